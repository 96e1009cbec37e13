#!/bin/sh
# The Go binding used as README.md's "Install" section says, from a fresh
# module outside the source tree:
#
#  1. make install, into a staging DESTDIR under the build tree (the test
#     must not touch the system);
#  2. a new module (go mod init) whose go.mod gets the require and replace
#     lines of README.md's "### Go" block verbatim, except that the replace
#     target, the installed $(pkgdatadir)/go, is moved into the staging dir;
#  3. go build of the program in bindings/go/README.md's "Use it from your
#     module" section, through the binding's "#cgo pkg-config: agentauthz"
#     and the installed agentauthz.pc;
#  4. the program run, and its output compared with the one the README shows.
#
# The staging dir stands for the system: pkg-config reads the installed .pc
# through PKG_CONFIG_PATH with PKG_CONFIG_SYSROOT_DIR set to the staging
# dir (so -I and -L point into it), and the loader finds the installed
# library through LD_LIBRARY_PATH (where the system would use ldconfig).
# Nothing is downloaded: GOPROXY is off, and the build would fail if the
# replace line did not take effect. The work dir is $top_builddir/go-work,
# kept on failure; the build cache is $top_builddir/go-cache unless GOCACHE
# is set.
#
# Exits 77 (automake's "skipped") when go is not installed or the build has
# no shared library (the sanitizer builds are static only).
set -eu

me=test-module.sh
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
GO=${GO:-go}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
module=github.com/libagentauthz/libagentauthz/bindings/go

if ! command -v "$GO" >/dev/null 2>&1; then
    echo "$me: go is not installed (apt-get install golang-go): skipped" >&2
    exit 77
fi
if [ ! -f "$top_builddir/lib/.libs/libagentauthz.so" ]; then
    echo "$me: no shared library in $top_builddir/lib/.libs (a static-only build such as the sanitizer builds; the shared build tests this): skipped" >&2
    exit 77
fi

fail() {
    echo "$me: $*" >&2
    echo "$me: the work dir is kept: $work" >&2
    exit 1
}

# block FILE SECTION LANG: the first ```LANG block after the heading line
# SECTION (exactly) in FILE, without its fences.
block() {
    awk -v section="$2" -v fence="\`\`\`$3" '
        $0 == section { in_section = 1; next }
        in_section && !in_block && $0 == fence { in_block = 1; next }
        in_block && $0 == "```" { found = 1; exit }
        in_block { print }
        END { exit !found }' "$1"
}

work=$top_builddir/go-work
rm -rf "$work"
mkdir -p "$work/app"

# What the READMEs say.
readme=$top_srcdir/README.md
gomd=$top_srcdir/bindings/go/README.md
block "$readme" "### Go" go.mod >"$work/readme.go.mod" ||
    fail "README.md has no \`\`\`go.mod block under \"### Go\""
block "$gomd" "## Use it from your module" go.mod >"$work/binding.go.mod" ||
    fail "bindings/go/README.md has no \`\`\`go.mod block under \"## Use it from your module\""
cmp -s "$work/readme.go.mod" "$work/binding.go.mod" ||
    fail "the go.mod lines of README.md and bindings/go/README.md differ"
block "$gomd" "## Use it from your module" go >"$work/app/main.go" ||
    fail "bindings/go/README.md has no \`\`\`go block under \"## Use it from your module\""
block "$gomd" "## Use it from your module" text >"$work/expected.out" ||
    fail "bindings/go/README.md has no \`\`\`text block (the output) under \"## Use it from your module\""
# Exactly a require line of the module at the library's version and a
# replace line, nothing else.
version=$("$PKG_CONFIG" --modversion "$top_builddir/agentauthz.pc")
printf '%s\n' "require $module v$version" "replace $module => /.*/share/libagentauthz/go" \
    >"$work/shape"
if [ "$(wc -l <"$work/readme.go.mod")" -ne 2 ] ||
   ! sed -n 1p "$work/readme.go.mod" | grep -qx "$(sed -n 1p "$work/shape")" ||
   ! sed -n 2p "$work/readme.go.mod" | grep -qx "$(sed -n 2p "$work/shape")"; then
    cat "$work/readme.go.mod" >&2
    fail "README.md's go.mod lines are not one require of $module v$version and one replace to .../share/libagentauthz/go"
fi

# 1. make install into the staging dir, as a user's make install.
stage=$work/stage
start=$(date +%s)
env -u MAKEFLAGS -u MFLAGS "${MAKE:-make}" -C "$top_builddir" install DESTDIR="$stage" \
    >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "make install DESTDIR=$stage failed"; }
echo "$me: make install DESTDIR=... took $(($(date +%s) - start)) s"
pcdir=$stage$("$PKG_CONFIG" --variable=libdir "$top_builddir/agentauthz.pc")/pkgconfig
[ -f "$pcdir/agentauthz.pc" ] || fail "make install put no agentauthz.pc in $pcdir"
PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
PKG_CONFIG_SYSROOT_DIR=$stage
# The installed .pc, never a build tree's agentauthz-uninstalled.pc.
PKG_CONFIG_DISABLE_UNINSTALLED=1
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_DISABLE_UNINSTALLED
libdir=$("$PKG_CONFIG" --variable=libdir agentauthz)
gomoddir=$("$PKG_CONFIG" --variable=gomoddir agentauthz)
case $gomoddir in
"$stage"/*/share/libagentauthz/go) ;;
*) fail "pkg-config --variable=gomoddir agentauthz gave '$gomoddir', not the installed Go module" ;;
esac

# Every source file of the package is installed (a new .go file missing
# from dist_gopkg_DATA in Makefile.am would otherwise ship a broken module).
(cd "$top_srcdir/bindings/go" && ls go.mod *.go *.c *.h | grep -v '_test\.go$') >"$work/sources"
(cd "$gomoddir" && ls) >"$work/installed"
missing=$(grep -vxF -f "$work/installed" "$work/sources" || true)
[ -z "$missing" ] || fail "make install left out of $gomoddir:" $missing

# 2. The fresh module, with the README's lines; the replace target moves
# into the staging dir.
GOTOOLCHAIN=local GOPROXY=off GOWORK=off GO111MODULE=on GOFLAGS=-buildvcs=false CGO_ENABLED=1
GOCACHE=${GOCACHE:-$top_builddir/go-cache}
# Go's build cache does not notice changed C headers or libraries
# (golang/go#24355): a hash of the installed ones goes into the cgo flags.
includedir=$("$PKG_CONFIG" --variable=includedir agentauthz)
key=$(cat "$includedir/agentauthz.h" "$includedir"/agentauthz/*.h "$libdir/libagentauthz.so" | cksum)
CGO_CPPFLAGS="-DAZ_GO_CACHE_KEY=${key%% *}${CGO_CPPFLAGS:+ $CGO_CPPFLAGS}"
export GOTOOLCHAIN GOPROXY GOWORK GO111MODULE GOFLAGS CGO_ENABLED GOCACHE CGO_CPPFLAGS
cd "$work/app"
"$GO" mod init example.com/app >/dev/null 2>&1 || fail "go mod init failed"
sed "s|=> /.*/share/libagentauthz/go\$|=> $gomoddir|" "$work/readme.go.mod" >>go.mod
dir=$("$GO" list -m -f '{{.Dir}}' "$module") || fail "go list -m $module failed"
[ "$dir" = "$gomoddir" ] || fail "the module resolved to $dir, not $gomoddir"
# cgo takes the flags from pkg-config, not from paths written in the binding
# (which a system-wide install would satisfy).
pkgs=$("$GO" list -f '{{join .CgoPkgConfig " "}}|{{join .CgoLDFLAGS " "}}|{{join .CgoCFLAGS " "}}' "$module")
[ "$pkgs" = "agentauthz||" ] ||
    fail "the binding's cgo directives are '$pkgs', not only '#cgo pkg-config: agentauthz'"

# 3. go build, with go's defaults otherwise (-mod=readonly: the README's
# lines must be all the go.mod needs).
start=$(date +%s)
"$GO" build -o app . >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "go build failed"; }
echo "$me: go build took $(($(date +%s) - start)) s"

# 4. Run it against the installed library.
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
case $(ldd ./app | grep 'libagentauthz\.so') in
*"=> $libdir/libagentauthz.so"*) ;;
*) ldd ./app >&2; fail "the program did not load the installed library from $libdir" ;;
esac
./app >"$work/app.out" 2>&1 || { cat "$work/app.out" >&2; fail "the README's program failed"; }
if ! cmp -s "$work/expected.out" "$work/app.out"; then
    diff -u "$work/expected.out" "$work/app.out" >&2 || true
    fail "the README's program printed something else than the README shows"
fi
cat "$work/app.out"
echo "ok   a fresh module builds and runs bindings/go/README.md's program with README.md's go.mod lines"
rm -rf "$work"

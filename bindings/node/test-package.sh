#!/bin/sh
# The Node binding as a user installs it: packs the npm tarball with this
# build's library bundled (pack.sh, as make npm-pack does), creates a fresh
# npm project in $top_builddir/npm-package/project, installs the tarball there
# with a plain `npm install TARBALL` (koffi, TypeScript and @types/node from
# the npm registry, at the versions package.json pins), and then, with
# AGENTAUTHZ_LIBRARY naming no file so that only the bundled copy can load:
#  - checks the installed package is a copy, not a link, with koffi beside it,
#    and loads its bundled library;
#  - runs the binding's tests inside the installed package (all but
#    pack.test.js, which needs the source tree's prepack.js);
#  - runs the README's examples (the installed README.md), unmodified, from
#    the project;
#  - compiles package-test/example.ts with tsc --strict against the
#    installed index.d.ts, and runs it;
#  - installs the source directory bindings/node the other documented way,
#    `npm install DIR koffi@VERSION` (npm links a directory and installs none
#    of its dependencies), in a second project, and runs the first README
#    example there against the build's library.
# Prints the tarball's size and how long npm took. Exits 77 (skipped) with
# the reason when the shared library is not built (the sanitizer builds),
# Node 20 or npm is missing, the machine is not linux-x64, or the npm
# registry cannot be reached. Writes only under $top_builddir/npm-package.
set -eu

me=test-package.sh
# make check passes top_srcdir: the source's files, never a copy of this
# script an out-of-tree build may hold.
if [ -n "${top_srcdir:-}" ] && [ -f "$top_srcdir/bindings/node/pack.sh" ]; then
    top_srcdir=$(cd "$top_srcdir" && pwd)
else
    top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
fi
srcdir=$top_srcdir/bindings/node
top_builddir=${top_builddir:-$top_srcdir}
top_builddir=$(cd "$top_builddir" && pwd)
library=$top_builddir/lib/.libs/libagentauthz.so.0

skip() {
    echo "$me: $1: skipped"
    exit 77
}
fail() {
    echo "$me: $1" >&2
    exit 1
}

[ -f "$library" ] || skip "no shared library at $library (a static-only build such as the sanitizer builds; the shared build tests this)"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
    skip "node and npm are needed (Node 20 or later)"
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] ||
    skip "Node $(node --version) is older than 20"
platform=$(node -p 'process.platform + "-" + process.arch')
[ "$platform" = linux-x64 ] || skip "the tarball bundles a linux-x64 library; this machine is $platform"
registry=$(npm config get registry 2>/dev/null || echo "the npm registry")
start=$(date +%s)
timeout 40 npm ping --fetch-retries=1 --fetch-timeout=15000 --loglevel=error >/dev/null 2>&1 || skip "$registry cannot be reached (npm ping)"
echo "# npm ping $registry: $(( $(date +%s) - start )) s"

pin() {
    node -p "const p = require('$srcdir/package.json'); p.dependencies['$1'] || p.devDependencies['$1']"
}
koffi_version=$(pin koffi)
ts_version=$(pin typescript)
types_version=$(pin @types/node)

work=$top_builddir/npm-package
rm -rf "$work"
mkdir -p "$work"
sh "$srcdir/pack.sh" "$top_srcdir" "$library" "$work"
set -- "$work"/agentauthz-*.tgz
[ $# -eq 1 ] && [ -f "$1" ] || fail "pack.sh made no single tarball in $work"
tarball=$1
echo "# tarball: $(basename "$tarball"), $(wc -c <"$tarball") bytes"

# A fresh project, as `npm init -y` makes one.
project=$work/project
mkdir -p "$project"
cat >"$project/package.json" <<EOF
{ "name": "agentauthz-package-test", "version": "1.0.0", "private": true }
EOF
npm_install() {
    dir=$1
    shift
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "$@" >npm-install.log 2>&1) || {
        cat "$dir/npm-install.log" >&2
        fail "npm install $* failed in $dir"
    }
}
start=$(date +%s)
npm_install "$project" "$tarball" "typescript@$ts_version" "@types/node@$types_version"
echo "# npm install (the tarball, koffi $koffi_version, typescript $ts_version, @types/node $types_version): $(( $(date +%s) - start )) s"

installed=$project/node_modules/agentauthz
[ -d "$installed" ] && [ ! -L "$installed" ] || fail "$installed is not a directory (a link?)"
[ -f "$project/node_modules/koffi/package.json" ] || fail "koffi was not installed as a dependency"
[ -f "$installed/LICENSE" ] || fail "the installed package has no LICENSE"
bundled=$installed/prebuilds/linux-x64/libagentauthz.so.0

# Only the bundled copy can load: the variable names no file, and the
# system's library is not tried when it is set.
AGENTAUTHZ_LIBRARY=$work/no-such-library.so
export AGENTAUTHZ_LIBRARY
loaded=$(cd "$project" && node -p "require('agentauthz').libraryPath")
[ "$loaded" = "$bundled" ] || fail "the package loaded $loaded, not its bundled $bundled"
echo "ok - the installed package loads its bundled library"

# The binding's tests, inside the installed package: require('..') is it.
cp -R "$srcdir/test" "$installed/test"
chmod -R u+w "$installed/test"
tests=$(cd "$installed" && ls test/*.test.js | grep -v '^test/pack\.test\.js$')
start=$(date +%s)
# The tests that copy the library take the bundled one.
(cd "$installed" && AGENTAUTHZ_LIBRARY=$bundled top_srcdir=$top_srcdir top_builddir=$top_builddir \
    node --test --test-reporter=tap $tests) >"$work/tests.tap" 2>&1 || {
    cat "$work/tests.tap"
    fail "the binding's tests failed against the installed package"
}
grep -E '^# (tests|pass|fail|skipped) ' "$work/tests.tap" | sed 's/^# /# installed package: /'
echo "ok - the binding's tests pass against the installed package ($(( $(date +%s) - start )) s)"

# The README's examples, as a user copies them into the project.
(cd "$project" && node "$srcdir/package-test/run-example.js" --readme "$installed/README.md")

# TypeScript, --strict, against the installed declarations.
cp "$srcdir/package-test/example.ts" "$project/example.ts"
chmod u+w "$project/example.ts"
(cd "$project" && node node_modules/typescript/bin/tsc --strict --target es2022 \
    --module node16 --moduleResolution node16 --types node --outDir out example.ts) ||
    fail "tsc --strict failed on example.ts against the installed index.d.ts"
(cd "$project" && node "$srcdir/package-test/run-example.js" example.ts out/example.js)

# The directory route: npm links it and installs none of its dependencies,
# so the project names koffi too; the source directory has no bundled copy.
linked=$work/linked
mkdir -p "$linked"
cat >"$linked/package.json" <<EOF
{ "name": "agentauthz-link-test", "version": "1.0.0", "private": true }
EOF
start=$(date +%s)
npm_install "$linked" "$srcdir" "koffi@$koffi_version"
echo "# npm install DIR koffi: $(( $(date +%s) - start )) s"
[ -L "$linked/node_modules/agentauthz" ] || fail "npm did not link $srcdir"
AGENTAUTHZ_LIBRARY=$library
loaded=$(cd "$linked" && node -p "require('agentauthz').libraryPath")
[ "$loaded" = "$library" ] || fail "the linked package loaded $loaded, not $library"
node -e "
const fs = require('node:fs');
const m = fs.readFileSync('$srcdir/README.md', 'utf8').match(/\`\`\`js\n([\s\S]*?)\`\`\`/);
fs.writeFileSync('$linked/first-example.js', m[1]);"
(cd "$linked" && node "$srcdir/package-test/run-example.js" first-example.js)
echo "ok - npm install DIR koffi@$koffi_version: the linked package runs the README's first example"

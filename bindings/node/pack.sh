#!/bin/sh
# Packs the Node binding's npm tarball with a copy of the shared library bundled
# in prebuilds/linux-x64/, the one make npm-pack and bindings/node/test-package.sh use.
#
#   sh pack.sh TOP_SRCDIR LIBRARY DESTDIR [VERSION]
#
# Stages the package's files (package.json "files", LICENSE from TOP_SRCDIR,
# and prepack.js, which npm runs and which refuses a stage without the
# library) in DESTDIR/npm-stage/agentauthz, copies LIBRARY (libtool's
# lib/.libs/libagentauthz.so.0) there stripped of debugging symbols, and runs
# `npm pack` into DESTDIR (with the npm that NPM names, default npm). With
# VERSION (configure's), refuses a package.json of another version. Writes
# nothing outside DESTDIR (npm's own cache and log aside); prints the
# tarball's path and size, and exits nonzero on failure.
set -eu

if [ $# -lt 3 ]; then
    echo "usage: pack.sh TOP_SRCDIR LIBRARY DESTDIR [VERSION]" >&2
    exit 2
fi
top_srcdir=$(cd "$1" && pwd)
library=$2
dest=$(mkdir -p "$3" && cd "$3" && pwd)
version=${4:-}
src=$top_srcdir/bindings/node

if [ ! -f "$library" ]; then
    echo "pack.sh: no shared library at $library (configured with --disable-shared?): the tarball bundles it" >&2
    exit 1
fi
platform=$(node -p 'process.platform + "-" + process.arch')
if [ "$platform" != linux-x64 ]; then
    echo "pack.sh: the tarball bundles a linux-x64 library; this machine is $platform" >&2
    exit 1
fi
pkg_version=$(node -p "require('$src/package.json').version")
if [ -n "$version" ] && [ "$pkg_version" != "$version" ]; then
    echo "pack.sh: bindings/node/package.json has version $pkg_version, the library $version" >&2
    exit 1
fi

stage=$dest/npm-stage/agentauthz
rm -rf "$dest/npm-stage"
mkdir -p "$stage/prebuilds/$platform"
# The files package.json lists, and prepack.js for npm's prepack step.
(cd "$src" && cp -R package.json index.js index.d.ts README.md prepack.js lib "$stage/")
cp "$top_srcdir/LICENSE" "$stage/LICENSE"
cp -L "$library" "$stage/prebuilds/$platform/libagentauthz.so.0"
# A read-only source tree (make distcheck) gives read-only copies.
chmod -R u+w "$stage"
${STRIP:-strip} --strip-debug "$stage/prebuilds/$platform/libagentauthz.so.0" 2>/dev/null || :

tarball=$(cd "$stage" && ${NPM:-npm} pack --pack-destination "$dest" --loglevel=error | tail -n 1)
if [ ! -f "$dest/$tarball" ]; then
    echo "pack.sh: npm pack made no tarball" >&2
    exit 1
fi
echo "pack.sh: $dest/$tarball ($(wc -c <"$dest/$tarball") bytes)"

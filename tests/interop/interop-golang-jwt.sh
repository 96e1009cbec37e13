#!/bin/sh
# Task tokens and github.com/golang-jwt/jwt/v5, both ways: the cases are in
# common.sh.
#
# Downloads the module go.mod and go.sum pin through the Go module proxy
# (GOPROXY as configured) into go's module cache, once, and builds the
# program in $top_builddir/interop-work/golang-jwt. The module and build
# caches are go's own (shared with other builds, so a fresh build tree does
# not compile the standard library's crypto again) when they are writable,
# else under $top_builddir/interop-work/golang-jwt.
# Skipped (77) without go, when the proxy cannot be reached, and in a
# static-only build.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
interop_setup golang-jwt
GO=${GO:-go}
need "$GO"

GOTOOLCHAIN=local GOWORK=off GO111MODULE=on GOFLAGS='-modcacherw -mod=readonly' CGO_ENABLED=0
export GOTOOLCHAIN GOWORK GO111MODULE GOFLAGS CGO_ENABLED
# writable_cache NAME: go's cache directory NAME if it can be used, else one
# in the work directory.
writable_cache() {
    dir=$("$GO" env "$1" 2>/dev/null)
    case $dir in
    /*) if mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ]; then echo "$dir"; return; fi ;;
    esac
    echo "$work/$1"
}
GOMODCACHE=$(writable_cache GOMODCACHE)
GOCACHE=$(writable_cache GOCACHE)
export GOTOOLCHAIN GOWORK GO111MODULE GOFLAGS GOMODCACHE GOCACHE CGO_ENABLED

mkdir -p "$work/src"
cp "$here/go/go.mod" "$here/go/go.sum" "$here/go/main.go" "$work/src/" &&
    chmod u+w "$work/src"/* || exit 2
version=$(sed -n 's/^require github.com\/golang-jwt\/jwt\/v5 //p' "$work/src/go.mod")
t0=$(date +%s)
if [ -d "$GOMODCACHE/github.com/golang-jwt/jwt/v5@$version" ]; then
    how="downloaded before, in $GOMODCACHE"
else
    (cd "$work/src" && "$GO" mod download -x) >"$tmp/install.log" 2>&1 ||
        fetch_failed "$tmp/install.log" "the Go module proxy"
    how="go mod download $(elapsed "$t0") s"
fi
t0=$(date +%s)
(cd "$work/src" && "$GO" build -o "$work/interop" .) >"$tmp/build.log" 2>&1 || {
    cat "$tmp/build.log" >&2
    echo "$script: go build failed" >&2
    exit 1
}
echo "# golang-jwt/jwt/v5 $version: $how; go build $(elapsed "$t0") s"

prog() {
    "$work/interop" "$@"
}
interop_run

#!/bin/sh
# Runs the Go binding's tests (go test) and its example against the built
# shared library, and prints go test's summary lines.
#
# top_srcdir and top_builddir default to the repository this script is in.
# cgo finds the library as a user's build does, through the binding's
# "#cgo pkg-config: agentauthz": PKG_CONFIG_PATH starts with $top_builddir,
# whose agentauthz-uninstalled.pc (written by configure) gives the source
# tree's headers, the build tree's generated agentauthz/version.h and
# lib/.libs; LD_LIBRARY_PATH is set to that libdir for run time. Nothing is
# downloaded: the module has no dependencies and GOPROXY is off. GO
# defaults to Debian's go.
#
#   run-tests.sh          the tests and the example (make check)
#   run-tests.sh bench    BenchmarkCheck4Args, one row for make bench
#
# Exits 77 (automake's "skipped") when go is not installed.
set -eu

srcdir=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$srcdir/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
GO=${GO:-go}

if ! command -v "$GO" >/dev/null 2>&1; then
    echo "run-tests.sh: go is not installed (apt-get install golang-go): skipped" >&2
    exit 77
fi
if [ ! -f "$top_builddir/lib/.libs/libagentauthz.so" ]; then
    # The sanitizer builds are static only: the binding is tested in build/.
    echo "run-tests.sh: no shared library in $top_builddir/lib/.libs (a static-only build such as the sanitizer builds; the shared build tests this): skipped" >&2
    exit 77
fi
if [ ! -f "$top_builddir/agentauthz-uninstalled.pc" ]; then
    echo "run-tests.sh: no agentauthz-uninstalled.pc in $top_builddir (run configure)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentauthz-go.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

PKG_CONFIG_PATH=$top_builddir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
unset PKG_CONFIG_DISABLE_UNINSTALLED
export PKG_CONFIG_PATH
libdir=$(${PKG_CONFIG:-pkg-config} --variable=libdir agentauthz)
if [ "$libdir" != "$top_builddir/lib/.libs" ]; then
    echo "run-tests.sh: pkg-config found another agentauthz than $top_builddir's: libdir=$libdir" >&2
    exit 1
fi

# Offline and reproducible: the local toolchain, no proxy, no VCS stamping,
# no workspace; the build cache goes to the build tree unless the caller
# has one (a read-only $HOME must not break make distcheck), shared with
# test-module.sh.
GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false GOWORK=off GO111MODULE=on
GOCACHE=${GOCACHE:-$top_builddir/go-cache}
CGO_ENABLED=1
# Go's build cache does not notice changed C headers or libraries
# (golang/go#24355): a hash of them in the cgo flags makes a changed
# library rebuild the binding instead of testing a stale build.
key=$(cat "$top_srcdir/include/agentauthz.h" "$top_srcdir"/include/agentauthz/*.h \
    "$top_builddir/include/agentauthz/version.h" "$libdir/libagentauthz.so" | cksum)
CGO_CPPFLAGS="-DAZ_GO_CACHE_KEY=${key%% *}${CGO_CPPFLAGS:+ $CGO_CPPFLAGS}"
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export GOTOOLCHAIN GOPROXY GOFLAGS GOWORK GO111MODULE GOCACHE CGO_ENABLED CGO_CPPFLAGS \
    LD_LIBRARY_PATH

if [ "${1:-}" = bench ]; then
    cd "$srcdir"
    "$GO" test -count=1 -run '^$' -bench '^BenchmarkCheck4Args$' -benchtime 2s . >"$tmp/bench.out"
    # A benchmark line: name, iterations, ns/op, ns, cpu-ns/op, ...
    awk '/^BenchmarkCheck4Args/ {
        printf "go: one check with four string arguments: %.2f us (thread CPU; wall %.2f us)\n", $5 / 1000, $3 / 1000
        found = 1 }
        END { exit !found }' "$tmp/bench.out"
    exit 0
fi

status=0
cd "$srcdir"
"$GO" test -count=1 -v ./... >"$tmp/test.out" 2>&1 || status=$?
# The summary: a line per test, and go test's "ok" or "FAIL" at the end.
grep -E '^(--- |ok |FAIL|PASS|panic:)' "$tmp/test.out" || true
if [ "$status" -ne 0 ]; then
    cat "$tmp/test.out" >&2
    exit "$status"
fi

# The example must build and run against the same library.
cd "$top_srcdir/examples/go"
"$GO" run . "$top_srcdir/examples/policy.yaml" >"$tmp/example.out"
if ! grep -q 'allow (rule read-tickets)' "$tmp/example.out"; then
    echo "run-tests.sh: the Go example did not print what it should:" >&2
    cat "$tmp/example.out" >&2
    exit 1
fi
echo "ok   examples/go"

#!/bin/sh
# Runs the Go binding's tests (go test) and its example against the built
# shared library, and prints go test's summary lines.
#
# top_srcdir and top_builddir default to the repository this script is in.
# The headers come from $top_srcdir/include and $top_builddir/include (the
# generated agentauthz/version.h lives in the build tree; when neither tree
# has one, it is generated from version.h.in into a temporary directory).
# The library is $top_builddir/lib/.libs/libagentauthz.so, or the one in
# $AGENTAUTHZ_LIBDIR. Nothing is downloaded: the module has no
# dependencies and GOPROXY is off. GO defaults to Debian's go.
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
libdir=${AGENTAUTHZ_LIBDIR:-$top_builddir/lib/.libs}
GO=${GO:-go}

if ! command -v "$GO" >/dev/null 2>&1; then
    echo "run-tests.sh: go is not installed (apt-get install golang-go): skipped" >&2
    exit 77
fi
if [ ! -f "$libdir/libagentauthz.so" ]; then
    # The sanitizer builds are static only: the binding is tested in build/.
    echo "run-tests.sh: no shared library at $libdir/libagentauthz.so (a static-only build such as the sanitizer builds; the shared build tests this): skipped" >&2
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentauthz-go.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

incdirs="-I$top_srcdir/include -I$top_builddir/include"
if [ ! -f "$top_builddir/include/agentauthz/version.h" ] &&
   [ ! -f "$top_srcdir/include/agentauthz/version.h" ]; then
    mkdir -p "$tmp/include/agentauthz"
    sed -e 's/@PACKAGE_VERSION@/0.1.0/' -e 's/@AZ_VERSION_MAJOR@/0/' \
        -e 's/@AZ_VERSION_MINOR@/1/' -e 's/@AZ_VERSION_PATCH@/0/' \
        -e 's/@AZ_VERSION_NUM@/0x000100/' \
        "$top_srcdir/include/agentauthz/version.h.in" >"$tmp/include/agentauthz/version.h"
    incdirs="$incdirs -I$tmp/include"
fi

# Offline and reproducible: the local toolchain, no proxy, no VCS stamping,
# no workspace; the build cache goes to the temporary directory unless the
# caller has one (a read-only $HOME must not break make distcheck).
GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false GOWORK=off GO111MODULE=on
GOCACHE=${GOCACHE:-$tmp/cache}
CGO_ENABLED=1
CGO_CFLAGS="$incdirs ${CGO_CFLAGS:--O2 -g}"
CGO_LDFLAGS="-L$libdir ${CGO_LDFLAGS:-}"
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export GOTOOLCHAIN GOPROXY GOFLAGS GOWORK GO111MODULE GOCACHE CGO_ENABLED CGO_CFLAGS \
    CGO_LDFLAGS LD_LIBRARY_PATH

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

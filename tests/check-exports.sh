#!/bin/sh
# The shared library must export exactly the functions the public headers
# declare: no private az_* helper (that would become API by accident) and
# no declared function left out. The expected list is read from the headers
# at test time, so it never goes stale.
#
# Environment (set by make check): top_srcdir, top_builddir. Exit 77 (skip)
# when there is no shared library to inspect (--disable-shared).
set -eu

top_srcdir=${top_srcdir:-${srcdir:-.}/..}
top_builddir=${top_builddir:-..}
so=$top_builddir/lib/.libs/libagentauthz.so

if [ ! -f "$so" ]; then
    echo "SKIP: $so was not built (configure --disable-shared)"
    exit 77
fi
if ! command -v nm >/dev/null 2>&1; then
    echo "SKIP: nm (binutils) is not installed"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/az-exports.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Every header that may declare API, in the source tree and (for generated
# headers) the build tree; a directory may hold none.
headers=
for h in "$top_srcdir"/include/agentauthz.h "$top_srcdir"/include/agentauthz/*.h \
    "$top_builddir"/include/agentauthz/*.h; do
    if [ -f "$h" ]; then
        headers="$headers $h"
    fi
done
# shellcheck disable=SC2086 # word splitting of the list is wanted
grep -ho 'agentauthz_[a-z_0-9]*(' $headers | tr -d '(' | LC_ALL=C sort -u >"$tmp/declared"
if [ ! -s "$tmp/declared" ]; then
    echo "FAIL: no function declarations found in:$headers"
    exit 1
fi

nm -D --defined-only "$so" >"$tmp/nm"
awk '$2 == "T" { print $3 }' "$tmp/nm" | LC_ALL=C sort -u >"$tmp/exported"
# Exported data (D, B, R...) would be API as well; none is intended. The
# linker's own markers are not ours.
awk '$2 != "T" && $2 != "A" && $3 !~ /^(_init|_fini|_edata|_end|__bss_start)$/ { print $3 }' \
    "$tmp/nm" >"$tmp/other"

status=0
LC_ALL=C comm -13 "$tmp/declared" "$tmp/exported" >"$tmp/extra"
LC_ALL=C comm -23 "$tmp/declared" "$tmp/exported" >"$tmp/missing"
while read -r s; do
    echo "FAIL: exported but not declared in a public header: $s"
    status=1
done <"$tmp/extra"
while read -r s; do
    echo "FAIL: declared in a public header but not exported: $s"
    status=1
done <"$tmp/missing"
while read -r s; do
    echo "FAIL: exported symbol that is not a function: $s"
    status=1
done <"$tmp/other"

n=$(wc -l <"$tmp/declared")
if [ "$status" = 0 ]; then
    echo "exports: all $n declared functions exported, nothing else"
fi
exit "$status"

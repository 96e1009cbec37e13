#!/bin/sh
# Runs "agentauthz lint policy.yaml" in every case folder of
# tests/policies/{valid,invalid}/ and compares its output (stdout and stderr
# together) with the folder's "expected" file, as jansson's test suites do.
# A valid case must exit 0 and an invalid one 1.
#
# The binary is $AGENTAUTHZ, else $top_builddir/agentauthz (or cli/agentauthz); the cases are
# under $srcdir (default: $top_srcdir, else the directory above this script).
# Prints one line per failing case, then "N passed, N failed".

srcdir=${srcdir:-${top_srcdir:-$(dirname "$0")/..}}
top_builddir=${top_builddir:-.}
bin=${AGENTAUTHZ:-$top_builddir/agentauthz}
# The automake build puts the command in cli/.
if [ -z "$AGENTAUTHZ" ] && [ ! -x "$bin" ]; then
    bin=$top_builddir/cli/agentauthz
fi

case $bin in
/*) ;;
*) bin=$(pwd)/$bin ;;
esac
if [ ! -x "$bin" ]; then
    echo "run-policy-cases.sh: no agentauthz binary at $bin" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/policy-cases.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

passed=0
failed=0

run_case() {
    dir=$1
    want_status=$2
    name=$(basename "$(dirname "$dir")")/$(basename "$dir")
    if [ ! -f "$dir/expected" ]; then
        echo "FAIL $name: no expected file"
        failed=$((failed + 1))
        return
    fi
    (cd "$dir" && "$bin" lint policy.yaml) >"$tmp/out" 2>&1
    status=$?
    if [ "$status" -ne "$want_status" ]; then
        echo "FAIL $name: exit status $status, expected $want_status"
        failed=$((failed + 1))
    elif ! diff -u "$dir/expected" "$tmp/out" >"$tmp/diff"; then
        echo "FAIL $name: output differs:"
        cat "$tmp/diff"
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
}

for dir in "$srcdir"/tests/policies/valid/*/; do
    [ -d "$dir" ] && run_case "${dir%/}" 0
done
for dir in "$srcdir"/tests/policies/invalid/*/; do
    [ -d "$dir" ] && run_case "${dir%/}" 1
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

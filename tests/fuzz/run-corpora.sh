#!/bin/sh
# Replays each fuzz harness's saved corpus (tests/fuzz/corpus/NAME) through
# the harness, built without libFuzzer by tests/fuzz/replay.c.
set -u
srcdir=${top_srcdir:-.}
bin=${top_builddir:-.}/tests/fuzz
passed=0 failed=0
for name in json glob yaml leak policy replay_line testfile audit keys check_token secrets extract observe; do
    if "$bin/replay_$name" "$srcdir/tests/fuzz/corpus/$name"; then
        passed=$((passed + 1))
    else
        echo "FAIL replay_$name"
        failed=$((failed + 1))
    fi
done
# The token harness: its own corpus (tokens, headers and payloads of the JWT
# format, from gen_token_seeds.py), and the JSON corpus as payloads.
if "$bin/replay_token" "$srcdir/tests/fuzz/corpus/token" "$srcdir/tests/fuzz/corpus/json"; then
    passed=$((passed + 1))
else
    echo "FAIL replay_token"
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

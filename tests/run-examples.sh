#!/bin/sh
# Runs the example orchestrator on the example policy, as `make demo` does:
# every step asserts its expected decision, so the example cannot rot.
set -u
srcdir=${srcdir:-${top_srcdir:-.}}
bin=${top_builddir:-.}/examples/orchestrator
if "$bin" "$srcdir/examples/policy.yaml"; then
    echo "1 passed, 0 failed"
    exit 0
fi
echo "0 passed, 1 failed"
exit 1

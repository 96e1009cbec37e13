#!/bin/sh
# End-to-end tests of the agentauthz command: every example of
# agentauthz-policy(5) and agentauthz(1) (the spec's policy, replay line and
# tests file), each subcommand's output, exit statuses and hostile input.
#
# The binary is $AGENTAUTHZ, else $top_builddir/agentauthz (or cli/agentauthz); the data is in
# $srcdir/tests/cli ($srcdir defaults to $top_srcdir, else the directory
# above this script). The token tests sign their tokens with the helper
# $MINT_TOKEN, else $top_builddir/tests/cli/mint-token (a check program).
# Prints one line per failing test, then "N passed, N failed".

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
    echo "test_cli.sh: no agentauthz binary at $bin" >&2
    exit 2
fi
mint=${MINT_TOKEN:-$top_builddir/tests/cli/mint-token}
case $mint in
/*) ;;
*) mint=$(pwd)/$mint ;;
esac
cd "$srcdir/tests/cli" || exit 2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_cli.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

passed=0
failed=0
P=spec-policy.yaml
SUPPORT=spiffe://corp.example/agents/support/7

fail() {
    echo "FAIL $1: $2"
    failed=$((failed + 1))
}

# run CMD...: runs the command, keeping stdout, stderr and the status.
run() {
    "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
}

# same NAME FILE WHAT: compares the file with $tmp/WHAT.
same() {
    if diff -u "$2" "$tmp/$3" >"$tmp/diff"; then
        return 0
    fi
    fail "$1" "$3 differs:"
    cat "$tmp/diff"
    return 1
}

# expect_out NAME STATUS TEXT CMD...: stdout is exactly TEXT (one line or more).
expect_out() {
    name=$1 want=$2
    printf '%s\n' "$3" >"$tmp/want"
    shift 3
    run "$@"
    if [ "$status" -ne "$want" ]; then
        fail "$name" "exit status $status, expected $want; stderr: $(head -c 300 "$tmp/err")"
        return
    fi
    same "$name" "$tmp/want" out && passed=$((passed + 1))
}

# expect_file NAME STATUS FILE CMD...: stdout is exactly the file's content.
expect_file() {
    name=$1 want=$2 file=$3
    shift 3
    run "$@"
    if [ "$status" -ne "$want" ]; then
        fail "$name" "exit status $status, expected $want; stderr: $(head -c 300 "$tmp/err")"
        return
    fi
    same "$name" "$file" out && passed=$((passed + 1))
}

# expect_err NAME STATUS TEXT CMD...: stderr contains TEXT (a fixed string).
expect_err() {
    name=$1 want=$2 text=$3
    shift 3
    run "$@"
    if [ "$status" -ne "$want" ]; then
        fail "$name" "exit status $status, expected $want; stderr: $(head -c 300 "$tmp/err")"
    elif ! grep -qF -- "$text" "$tmp/err"; then
        fail "$name" "stderr lacks '$text': $(head -c 300 "$tmp/err")"
    else
        passed=$((passed + 1))
    fi
}

# ---- the command ----
run "$bin" --version
if [ "$status" -eq 0 ] && grep -qE '^agentauthz [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out"; then
    passed=$((passed + 1))
else
    fail version "status $status, output: $(cat "$tmp/out")"
fi
for args in "--help" "-h" "help" "help test" "lint --help" "check --help" "replay --help" \
    "test --help" "audit --help" "audit verify --help" "token --help" "token verify --help" \
    "token sign --help" "keys --help" "keys jwks --help" \
    "keygen --help" "help keygen"; do
    # shellcheck disable=SC2086 # the words of $args are the arguments
    run "$bin" $args
    if [ "$status" -eq 0 ] && grep -q '^Usage: agentauthz' "$tmp/out"; then
        passed=$((passed + 1))
    else
        fail "help: $args" "status $status"
    fi
done
run "$bin" test --help
if grep -q "key 'tests' is a tests file" "$tmp/out"; then
    passed=$((passed + 1))
else
    fail "test --help" "does not say which arguments are tests files"
fi
expect_err "no command" 2 "missing command" "$bin"
expect_err "unknown command" 2 "unknown command 'frob'" "$bin" frob
expect_err "unknown option" 2 "unknown option '--frob'" "$bin" --frob
expect_err "help of an unknown command" 2 "unknown command" "$bin" help frob
expect_err "unknown subcommand option" 2 "unknown option '--bogus'" "$bin" lint --bogus $P
for cmd in check replay test; do
    run "$bin" $cmd --help
    if grep -q -- '--audit LOG' "$tmp/out" && grep -q -- '--keys FILE' "$tmp/out"; then
        passed=$((passed + 1))
    else
        fail "$cmd --help" "does not describe --keys and --audit"
    fi
done

# ---- lint ----
expect_out "lint: the spec's example policy" 0 "ok: 6 rules, 2 tasks, 4 secrets" "$bin" lint $P
expect_out "lint: a directory is one policy" 0 "ok: 2 rules, 1 tasks, 0 secrets" \
    "$bin" lint split
expect_out "lint: several files are one policy" 0 "ok: 2 rules, 1 tasks, 0 secrets" \
    "$bin" lint split/10-base.yaml split/20-more.yaml
expect_err "lint: a reference into a file not loaded" 1 \
    'split/20-more.yaml:5:13: error: unknown task "work"' "$bin" lint split/20-more.yaml
expect_err "lint: rule ids are unique across files" 1 \
    'dup-split/b.yml:3:9: error: duplicate rule id "read-docs"' "$bin" lint dup-split
expect_err "lint: a missing file is unreadable input" 2 "no-such-file.yaml" \
    "$bin" lint no-such-file.yaml
expect_err "lint: one missing file among good ones" 2 "no-such-file.yaml" \
    "$bin" lint $P no-such-file.yaml
expect_err "lint: needs a policy" 2 "missing POLICY" "$bin" lint
expect_err "lint: warnings do not fail" 0 \
    'policy.yaml:6:5: warning: rule "shadowed" is fully shadowed by deny rule "deny-all"' \
    "$bin" lint ../policies/valid/warnings/policy.yaml
expect_err "lint: a trace is not a policy" 1 'unknown key "session" in the policy' \
    "$bin" lint spec-trace.jsonl

# ---- check ----
c() { "$bin" check $P --identity "$SUPPORT" --task triage-ticket "$@"; }
expect_out "check: read-kb" 0 '{"decision":"allow","rule":"read-kb","reason":""}' \
    c --tool read_file --resource /kb/howto.md
expect_out "check: never-dotenv with its reason" 0 \
    '{"decision":"deny","rule":"never-dotenv","reason":"dotenv files hold credentials"}' \
    c --tool read_file --resource /kb/.env
expect_out "check: email-inside" 0 '{"decision":"allow","rule":"email-inside","reason":""}' \
    c --tool send_email --arg to='["a@corp.example","ops@partner.example"]'
expect_out "check: mail outside is the default deny" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    c --tool send_email --arg to='["eve@evil.example"]'
expect_out "check: big-payment asks" 0 '{"decision":"ask","rule":"big-payment","reason":""}' \
    c --tool send_money --arg amount=5000
expect_out "check: --arg applies on top of --args" 0 \
    '{"decision":"allow","rule":"email-inside","reason":""}' \
    c --tool send_email --args '{"to":["eve@evil.example"],"body":"x"}' --arg to='["a@corp.example"]'
expect_out "check: --args alone" 0 '{"decision":"ask","rule":"big-payment","reason":""}' \
    c --tool send_money --args '{"amount":1000.5}'
expect_out "check: --opt=value" 0 '{"decision":"allow","rule":"read-kb","reason":""}' \
    "$bin" check $P --identity="$SUPPORT" --task=triage-ticket --tool=read_file --resource=/kb/a
expect_out "check: options before the policy" 0 \
    '{"decision":"allow","rule":"read-kb","reason":""}' \
    "$bin" check --tool read_file --resource /kb/a --identity "$SUPPORT" --task triage-ticket $P
r() { "$bin" check $P --identity "$SUPPORT" --task refund-customer "$@"; }
expect_out "check: refund with params" 0 \
    '{"decision":"allow","rule":"refund-only-that-customer","reason":""}' \
    r --param customer_email='"alice@example.com"' --param max_refund=100 \
    --tool payments.refund --arg email='"ALICE@example.com"' --arg amount=100
expect_out "check: refund to another customer" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    r --param customer_email='"alice@example.com"' --param max_refund=100 \
    --tool payments.refund --arg email='"bob@example.com"' --arg amount=1
expect_out "check: refund over the bound amount" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    r --param customer_email='"alice@example.com"' --param max_refund=100 \
    --tool payments.refund --arg email='"alice@example.com"' --arg amount=101
expect_out "check: a missing parameter refuses the session" 0 \
    '{"decision":"deny","rule":"session","reason":"task \"refund-customer\" needs parameter \"max_refund\" (number)"}' \
    r --param customer_email='"alice@example.com"' --tool payments.refund
expect_out "check: an unknown task refuses the session" 0 \
    '{"decision":"deny","rule":"session","reason":"task \"nope\" is not in the policy"}' \
    "$bin" check $P --identity "$SUPPORT" --task nope --tool read_file
expect_out "check: an identity without the role is refused" 0 \
    '{"decision":"deny","rule":"session","reason":"identity holds none of the roles of task \"triage-ticket\""}' \
    "$bin" check $P --identity spiffe://corp.example/agents/coder --task triage-ticket --tool x
d() { "$bin" check dest-policy.yaml --identity i --task mail --tool send_email "$@"; }
expect_out "check: --destination repeats into a list" 0 \
    '{"decision":"allow","rule":"mail-inside","reason":""}' \
    d --destination a@corp.example --destination b@x.corp.example
expect_out "check: every destination must be inside" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    d --destination a@corp.example --destination eve@evil.example
expect_out "check: --label, and reasons are JSON-escaped" 0 \
    '{"decision":"deny","rule":"no-pii-out","reason":"say \"no\" to C:\\pii\ttabs"}' \
    d --destination a@corp.example --label internal --label pii
# Issue 9 item 4: a recipient that mail libraries read as bob@evil.com is not in corp.example.
expect_out "check: an angle-bracket address is not inside" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    c --tool send_email --arg to='["<bob@evil.com>@corp.example"]'
expect_out "check: an address list in one string is not inside" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    c --tool send_email --arg to='["bob@evil.com,alice@corp.example"]'
expect_out "check: a plain mailbox inside" 0 '{"decision":"allow","rule":"email-inside","reason":""}' \
    c --tool send_email --arg to='["bob.smith@corp.example"]'
# Issue 9 items 2 and 5: tool globs split at '.', cidr reads the host of a URL.
m() { "$bin" check matcher-policy.yaml --identity i --task t --param tp='"gitlab.*"' "$@"; }
expect_out "check: cidr on a URL's host" 0 \
    '{"decision":"deny","rule":"metadata","reason":""}' \
    m --tool fetch --destination http://169.254.169.254/latest/meta-data/
expect_out "check: cidr on host:port" 0 '{"decision":"deny","rule":"metadata","reason":""}' \
    m --tool fetch --destination 169.254.169.254:80
expect_out "check: cidr on a v4-mapped [IPv6]:port" 0 \
    '{"decision":"deny","rule":"metadata","reason":""}' \
    m --tool fetch --destination '[::ffff:169.254.169.254]:80'
expect_out "check: a decimal IPv4 host is not guessed" 0 \
    '{"decision":"deny","rule":"metadata","reason":"a condition could not be evaluated (invalid parameter pattern, missing parameter, a value whose host cidr or domain cannot read, or provenance the session dropped)"}' \
    m --tool fetch --destination http://2852039166/
expect_out "check: cidr near miss" 0 '{"decision":"allow","rule":"fetch","reason":""}' \
    m --tool fetch --destination http://169.255.169.254/
expect_out "check: tool glob stays in one segment" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    m --tool github.repo.push
expect_out "check: tool glob, one segment" 0 '{"decision":"allow","rule":"github-one","reason":""}' \
    m --tool github.push
expect_out "check: tool glob parameter stays in one segment" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    m --tool gitlab.repo.push
expect_out "check: tool glob parameter, one segment" 0 \
    '{"decision":"allow","rule":"github-param","reason":""}' m --tool gitlab.push
# Issue 16 item 2: a backslash in a glob is refused, in a policy and in a glob parameter.
expect_out "check: a glob parameter with a backslash refuses the session" 0 \
    '{"decision":"deny","rule":"session","reason":"parameter \"tp\", used as a glob by rule \"github-param\" at matcher-policy.yaml:24:30: a backslash is not allowed in a glob (globs have no escapes) (at byte 7)"}' \
    "$bin" check matcher-policy.yaml --identity i --task t --param tp='"gitlab.\\*"' --tool gitlab.push
expect_err "check: an unquoted string is not JSON" 2 "quote strings as JSON" \
    c --tool send_email --arg to=eve@evil.example
expect_err "check: --param values are JSON too" 2 "quote strings as JSON" \
    r --param customer_email=alice@example.com --tool payments.refund
expect_err "check: --arg needs KEY=JSON" 2 "needs KEY=JSON" c --tool x --arg novalue
expect_err "check: --arg needs a key" 2 "needs KEY=JSON" c --tool x --arg =5
expect_err "check: --args must be an object" 2 "must be a JSON object" c --tool x --args '[1]'
expect_err "check: --args must be JSON" 2 "--args is not JSON" c --tool x --args '{"a":}'
expect_err "check: duplicate keys in --args" 2 "--args is not JSON" c --tool x --args '{"a":1,"a":2}'
expect_err "check: needs --tool" 2 "missing --tool" c
expect_err "check: needs --identity" 2 "missing --identity" \
    "$bin" check $P --task triage-ticket --tool x
expect_err "check: needs --task" 2 "missing --task" "$bin" check $P --identity i --tool x
expect_err "check: needs a policy" 2 "missing POLICY" \
    "$bin" check --identity i --task t --tool x
expect_err "check: an option without its value" 2 "needs a value" c --tool
expect_err "check: single options are single" 2 "given twice" c --tool a --tool b
expect_err "check: a policy that does not load" 2 "unknown task \"work\"" \
    "$bin" check split/20-more.yaml --identity i --task work --tool x

# ---- input: paths, SPIFFE IDs and the README's policy (issue 9, items 3, 7, 8) ----
# The README's policy, as a reader copies it: the first yaml block of the tour.
awk '/^### 1. A policy/ { f = 1; next } f && /^```yaml/ { p = 1; next } p && /^```/ { exit } p' \
    ../../README.md >"$tmp/readme.yaml"
rd() { "$bin" check "$tmp/readme.yaml" --identity "$SUPPORT" --task triage-ticket \
    --tool read_file --resource "$1"; }
ex() { "$bin" check ../../examples/policy.yaml --identity "$SUPPORT" --task triage-ticket \
    --tool read_file --resource "$1"; }
DOTENV='{"decision":"deny","rule":"never-dotenv","reason":"dotenv files hold credentials"}'
for policy in rd ex; do
    expect_out "$policy: /kb/howto.md" 0 '{"decision":"allow","rule":"read-kb","reason":""}' \
        $policy /kb/howto.md
    expect_out "$policy: /kb/.env" 0 "$DOTENV" $policy /kb/.env
    expect_out "$policy: /kb/.ENV (icase)" 0 "$DOTENV" $policy /kb/.ENV
    expect_out "$policy: /kb/sub/.Env.local (icase)" 0 "$DOTENV" $policy /kb/sub/.Env.local
    expect_out "$policy: /kb/../etc/passwd is /etc/passwd" 0 \
        '{"decision":"deny","rule":"default","reason":"no rule matched"}' $policy /kb/../etc/passwd
    expect_out "$policy: /kb/a/../b.md is /kb/b.md" 0 \
        '{"decision":"allow","rule":"read-kb","reason":""}' $policy /kb/a/../b.md
    expect_out "$policy: above the root" 0 \
        '{"decision":"deny","rule":"input","reason":"resource: path climbs above its root (..)"}' \
        $policy /kb/../../etc/passwd
    expect_out "$policy: a backslash" 0 \
        '{"decision":"deny","rule":"input","reason":"resource: path contains a backslash"}' \
        $policy '/kb/..\..\etc\passwd'
done
expect_out "check: an identity that is no SPIFFE ID" 0 \
    '{"decision":"deny","rule":"session","reason":"invalid SPIFFE ID \"spiffe://corp.example/agents/support/\": a SPIFFE ID does not end with '"'/'"'"}' \
    "$bin" check $P --identity spiffe://corp.example/agents/support/ --task triage-ticket \
    --tool read_file --resource /kb/howto.md
printf '%s\n' \
    '{"session":"s1","identity":"spiffe://corp.example/agents/support/..","task":"triage-ticket","tool":"read_file","resource":"/kb/x"}' \
    '{"session":"s2","identity":"spiffe://corp.example/agents/support/7","task":"triage-ticket","tool":"read_file","resource":"/kb/./x"}' \
    >"$tmp/spiffe.jsonl"
expect_out "replay: an identity that is no SPIFFE ID" 0 \
    '{"line":1,"session":"s1","tool":"read_file","decision":"deny","rule":"session","reason":"invalid SPIFFE ID \"spiffe://corp.example/agents/support/..\": a SPIFFE ID has no '"'.'"' or '"'..'"' path segment"}
{"line":2,"session":"s2","tool":"read_file","decision":"allow","rule":"read-kb","reason":""}' \
    "$bin" replay $P "$tmp/spiffe.jsonl"

# ---- replay ----
expect_file "replay: the spec's line" 0 spec-trace.expected "$bin" replay $P spec-trace.jsonl
# Issue 9, item 17: error lines make the exit status 1, and stderr says how many.
expect_file "replay: sessions, clock, approvals, close and errors" 1 replay-trace.expected \
    "$bin" replay $P replay-trace.jsonl
printf '8 allowed, 8 denied, 2 asked\nreplay-trace.jsonl: error: 16 lines could not be replayed\n' \
    >"$tmp/want"
same "replay: the summary on stderr" "$tmp/want" err && passed=$((passed + 1))
expect_out "replay: no error line, status 0" 0 \
    '{"line":1,"session":"s","tool":"read_file","decision":"allow","rule":"read-kb","reason":""}' \
    sh -c 'head -n 1 replay-trace.jsonl | sed s/s1/s/ | "$0" replay "$1" -' "$bin" $P
printf '1 allowed, 0 denied, 0 asked\n' >"$tmp/want"
same "replay: no error line, only the summary on stderr" "$tmp/want" err &&
    passed=$((passed + 1))
# Issue 9, item 17: a later line cannot reopen a session with another identity, task,
# ttl or params (an error line; before, it was replayed in the first session).
expect_file "replay: a session's later lines keep its opening" 1 reuse-trace.expected \
    "$bin" replay $P reuse-trace.jsonl
# Issue 9, item 17: a glob or CIDR parameter that does not parse refuses the session.
printf '%s\n' '{"session":"a","identity":"i","task":"t","params":{"pat":"/kb/[","nets":[]},"tool":"x"}' \
    '{"session":"b","identity":"i","task":"t","params":{"pat":"/kb/*","nets":["10.0.0.0/8","10.1.2.3/40"]},"tool":"x"}' \
    '{"session":"c","identity":"i","task":"t","params":{"pat":"/kb/*","nets":["10.0.0.0/8"]},"tool":"x","resource":"/kb/a","destination":"10.1.2.3"}' \
    '{"session":"c","tool":"x","resource":"/kb/a/b","destination":"10.1.2.3"}' >"$tmp/pattern.jsonl"
expect_out "replay: parameters used as patterns are checked at open" 0 \
    '{"line":1,"session":"a","tool":"x","decision":"deny","rule":"session","reason":"parameter \"pat\", used as a glob by rule \"in-pattern\" at param-pattern.yaml:11:34: unclosed '"'"'['"'"' (at byte 4)"}
{"line":2,"session":"b","tool":"x","decision":"deny","rule":"session","reason":"parameter \"nets\" (item 2), used as a CIDR by rule \"in-pattern\" at param-pattern.yaml:12:37: expected an address/prefix such as 10.0.0.0/8"}
{"line":3,"session":"c","tool":"x","decision":"allow","rule":"in-pattern","reason":""}
{"line":4,"session":"c","tool":"x","decision":"deny","rule":"default","reason":"no rule matched"}' \
    "$bin" replay param-pattern.yaml "$tmp/pattern.jsonl"
expect_file "replay: '-' is standard input" 0 spec-trace.expected \
    sh -c '"$0" replay "$1" - <spec-trace.jsonl' "$bin" $P
expect_file "replay: no trace is standard input" 0 spec-trace.expected \
    sh -c '"$0" replay "$1" <spec-trace.jsonl' "$bin" $P
expect_file "replay: a policy directory and a trace" 0 /dev/null \
    sh -c '"$0" replay split </dev/null' "$bin"
expect_err "replay: an unreadable trace" 2 "no-such-trace.jsonl: error: cannot read: " \
    "$bin" replay $P no-such-trace.jsonl
expect_err "replay: a policy that does not load" 2 'unknown task "work"' \
    "$bin" replay split/20-more.yaml spec-trace.jsonl
expect_err "replay: needs a policy" 2 "missing POLICY" "$bin" replay -

# Issue 9 item 1: one outside recipient is caught however it is written
# (a string, a list of one), and [] is an empty list, not an absent field.
cat >"$tmp/out-policy.yaml" <<'EOF'
agentauthz: 1
tasks: { mail: {} }
rules:
  - { id: all, effect: allow, tools: ["*"] }
  - id: out
    effect: deny
    tools: ["*"]
    where:
      destination: { some: { not: { domain: [corp.example] } } }
  - { id: empty-list, effect: ask, tools: [probe], where: { destination: { type: list, len_lte: 0 } } }
EOF
cat >"$tmp/out.jsonl" <<'EOF'
{"session":"o","identity":"agent/1","task":"mail","tool":"send","destination":["bob@evil.example"]}
{"session":"o","tool":"send","destination":"bob@evil.example"}
{"session":"o","tool":"send","destination":["a@corp.example"]}
{"session":"o","tool":"probe","destination":[]}
EOF
expect_out "replay: a list of one destination stays a list" 0 \
'{"line":1,"session":"o","tool":"send","decision":"deny","rule":"out","reason":""}
{"line":2,"session":"o","tool":"send","decision":"deny","rule":"out","reason":""}
{"line":3,"session":"o","tool":"send","decision":"allow","rule":"all","reason":""}
{"line":4,"session":"o","tool":"probe","decision":"ask","rule":"empty-list","reason":""}' \
    "$bin" replay "$tmp/out-policy.yaml" "$tmp/out.jsonl"
cat >"$tmp/out-tests.yaml" <<'EOF'
tests:
  - name: one outside recipient
    identity: agent/1
    task: mail
    steps:
      - { tool: send, destination: [bob@evil.example], expect: deny, rule: out }
      - { tool: send, destination: bob@evil.example, expect: deny, rule: out }
      - { tool: send, destination: [a@corp.example], expect: allow, rule: all }
      - { tool: probe, destination: [], expect: ask, rule: empty-list }
EOF
expect_out "test: a list of one destination stays a list" 0 "1 passed, 0 failed" \
    "$bin" test "$tmp/out-policy.yaml" "$tmp/out-tests.yaml"

# A line longer than 16 MiB is an error line; the next line is replayed.
{
    printf '{"session":"a","tool":"'
    head -c 17000000 /dev/zero | tr '\0' 'x'
    printf '"}\n'
    printf '{"session":"w","identity":"spiffe://corp.example/agents/a","task":"work","tool":"read_file","resource":"/docs/x"}\n'
} >"$tmp/long.jsonl"
expect_out "replay: a line over 16 MiB" 1 '{"line":1,"error":"line longer than 16 MiB"}
{"line":2,"session":"w","tool":"read_file","decision":"allow","rule":"read-docs","reason":""}' \
    "$bin" replay split "$tmp/long.jsonl"

# Live sessions are bounded: the 10001st is refused, closing one makes room.
awk 'BEGIN { for (i = 1; i <= 10001; i++)
    printf "{\"session\":\"s%d\",\"identity\":\"spiffe://corp.example/agents/a\",\"task\":\"work\",\"tool\":\"read_file\",\"resource\":\"/docs/x\"}\n", i
    print "{\"session\":\"s1\",\"tool\":\"read_file\",\"close\":true}"
    print "{\"session\":\"s10001\",\"identity\":\"spiffe://corp.example/agents/a\",\"task\":\"work\",\"tool\":\"read_file\",\"resource\":\"/docs/x\"}" }' \
    >"$tmp/many.jsonl"
run "$bin" replay split "$tmp/many.jsonl"
if [ "$status" -eq 1 ] && [ "$(grep -c '"decision":"allow"' "$tmp/out")" -eq 10001 ] &&
    grep -qF '{"line":10001,"error":"too many sessions' "$tmp/out"; then
    passed=$((passed + 1))
else
    fail "replay: live sessions are bounded" "status $status; $(grep error "$tmp/out" | head -3)"
fi

# Issue 16, item 1: a denied action adds no labels (the session holds at most 1024).
awk 'function tag(from, to,   i, sep) {
        printf "{\"session\":\"s\",\"identity\":\"i\",\"task\":\"t\",\"tool\":\"tag\",\"labels\":["
        for (i = from; i < to; i++) { printf "%s\"b%04d\"", sep, i; sep = "," }
        print "]}" }
    BEGIN { tag(0, 1000); tag(1000, 1030)
        print "{\"session\":\"s\",\"tool\":\"probe\"}"
        print "{\"session\":\"s\",\"tool\":\"tag\",\"labels\":[\"new\"]}" }' >"$tmp/labels.jsonl"
expect_out "replay: a denied action adds no labels" 0 '{"line":1,"session":"s","tool":"tag","decision":"allow","rule":"tag","reason":""}
{"line":2,"session":"s","tool":"tag","decision":"deny","rule":"session","reason":"the action'"'"'s labels would take the session past 1024 labels"}
{"line":3,"session":"s","tool":"probe","decision":"deny","rule":"default","reason":"no rule matched"}
{"line":4,"session":"s","tool":"tag","decision":"allow","rule":"tag","reason":""}' \
    "$bin" replay label-bound.yaml "$tmp/labels.jsonl"

# Hostile bytes: the output stays one valid JSON object per line.
printf '{"session":"\\u0000","tool":"x"}\n\377\376\n{"session":"s","tool":"t\\"q\\n"}\n\0\n{}' \
    >"$tmp/hostile.jsonl"
run "$bin" replay $P "$tmp/hostile.jsonl"
if [ "$status" -eq 1 ] && [ "$(wc -l <"$tmp/out")" -eq 5 ] &&
    ! grep -qv '^{"line":[1-5],"error":"' "$tmp/out"; then
    passed=$((passed + 1))
else
    fail "replay: hostile bytes" "status $status: $(cat "$tmp/out")"
fi

# ---- test ----
expect_out "test: the spec's tests file" 0 "1 passed, 0 failed" "$bin" test $P spec-tests.yaml
expect_out "test: every rule of the spec's policy" 0 "20 passed, 0 failed" \
    "$bin" test $P spec-policy-tests.yaml
expect_out "test: several tests files, in any order" 0 "21 passed, 0 failed" \
    "$bin" test spec-tests.yaml $P spec-policy-tests.yaml
expect_out "test: otherwise ask" 0 "2 passed, 0 failed" \
    "$bin" test otherwise-ask.yaml otherwise-ask-tests.yaml
expect_file "test: failing steps are reported" 1 failing-tests.expected \
    "$bin" test $P failing-tests.yaml
expect_err "test: needs a tests file" 2 "missing TESTS.yaml" "$bin" test $P
expect_err "test: needs a policy" 2 "missing POLICY" "$bin" test spec-tests.yaml
expect_err "test: a policy that does not load" 2 'unknown task "work"' \
    "$bin" test split/20-more.yaml spec-tests.yaml
for f in bad-tests/*.yaml; do
    run "$bin" test $P "$f"
    if [ "$status" -ne 2 ]; then
        fail "test: $f" "exit status $status, expected 2"
    elif [ -s "$tmp/out" ]; then
        fail "test: $f" "printed results for an invalid tests file"
    else
        (cd bad-tests && "$bin" test ../$P "$(basename "$f")") >/dev/null 2>"$tmp/err"
        same "test: $f" "${f%.yaml}.expected" err && passed=$((passed + 1))
    fi
done

# ---- keygen ----
K=$tmp/keys
run "$bin" keygen --out "$K"
if [ "$status" -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 1 ] &&
    grep -qE '^azpk1\.[A-Za-z0-9_-]{43}$' "$tmp/out"; then
    passed=$((passed + 1))
else
    fail "keygen: prints the public key only" "status $status: $(cat "$tmp/out" "$tmp/err")"
fi
PUB=$(cat "$tmp/out")
if [ -n "$(find "$K" -perm 0600)" ]; then
    passed=$((passed + 1))
else
    fail "keygen: the key file is mode 0600" "$(ls -l "$K")"
fi
# The file is a key file, and none of its secret lines reached the output.
if [ "$(head -1 "$K")" = "agentauthz-keys v1" ] && [ "$(wc -l <"$K")" -eq 4 ] &&
    ! grep -qF -- "$(sed -n 2p "$K" | cut -c7-)" "$tmp/out" "$tmp/err" &&
    ! grep -qF -- "$(sed -n 4p "$K" | cut -c8-)" "$tmp/out" "$tmp/err"; then
    passed=$((passed + 1))
else
    fail "keygen: a key file" "$(head -1 "$K")"
fi
cp "$K" "$tmp/keys.copy"
expect_err "keygen: refuses to overwrite" 2 "refusing to overwrite" "$bin" keygen --out "$K"
if cmp -s "$K" "$tmp/keys.copy"; then
    passed=$((passed + 1))
else
    fail "keygen: refusing leaves the file as it was" "the key file changed"
fi
ln -s "$tmp/no-such-target" "$tmp/dangling"
expect_err "keygen: does not follow a link" 2 "refusing to overwrite" \
    "$bin" keygen --out "$tmp/dangling"
if [ -e "$tmp/no-such-target" ]; then
    fail "keygen: a link's target stays uncreated" "it was created"
else
    passed=$((passed + 1))
fi
expect_err "keygen: needs --out" 2 "missing --out" "$bin" keygen
expect_err "keygen: no positional arguments" 2 "unexpected argument" "$bin" keygen "$tmp/k3"
expect_err "keygen: an unwritable place" 2 "$tmp/no-dir/k" "$bin" keygen --out "$tmp/no-dir/k"
"$bin" keygen --out "$tmp/keys2" >"$tmp/pub2" 2>&1
K2=$tmp/keys2
cp "$K" "$tmp/keys644"
chmod 644 "$tmp/keys644"

# ---- --keys and --audit ----
L=$tmp/audit.log
expect_out "check: --keys and --audit" 0 '{"decision":"allow","rule":"read-kb","reason":""}' \
    c --keys "$K" --audit "$L" --tool read_file --resource /kb/howto.md
if head -1 "$L" | grep -q '^{"v":2,"seq":1,"log":"[0-9a-f]\{32\}",.*"event":"start".*"key":"'"$PUB"'"' &&
    sed -n 2p "$L" | grep -q '"event":"reload"' && tail -1 "$L" | grep -q '"event":"checkpoint"' &&
    [ -n "$(find "$L" -perm 0600)" ] && [ "$(wc -l <"$L")" -eq 6 ] &&
    grep -q '"event":"check".*"decision":"allow","rule":"read-kb"' "$L"; then
    passed=$((passed + 1))
else
    fail "check: the audit log" "$(ls -l "$L"; cat "$L")"
fi
# expect_ok NAME N CMD...: exit 0 and stdout starts with "ok: N records".
expect_ok() {
    name=$1 want=$2
    shift 2
    run "$@"
    if [ "$status" -ne 0 ]; then
        fail "$name" "exit status $status, expected 0; stderr: $(head -c 300 "$tmp/err")"
    elif ! head -1 "$tmp/out" | grep -q "^ok: $want records"; then
        fail "$name" "stdout: $(head -c 300 "$tmp/out")"
    else
        passed=$((passed + 1))
    fi
}
expect_ok "audit verify: a check's log" 6 "$bin" audit verify --keys "$K" "$L"
if grep -q 'records 1\.\.6 covered by the engine.s signature' "$tmp/out"; then
    passed=$((passed + 1))
else
    fail "audit verify: the log ends signed" "$(cat "$tmp/out")"
fi
# A second run continues the same chain.
"$bin" replay --keys "$K" --audit "$L" $P spec-trace.jsonl >/dev/null 2>&1
expect_ok "audit verify: a replay continues the log" "$(wc -l <"$L")" \
    "$bin" audit verify --keys "$K" "$L"
if [ "$(wc -l <"$L")" -gt 6 ]; then
    passed=$((passed + 1))
else
    fail "replay: --audit" "the log has only $(wc -l <"$L") lines"
fi
expect_out "test: --keys and --audit" 0 "1 passed, 0 failed" \
    "$bin" test --keys "$K" --audit "$tmp/test.log" $P spec-tests.yaml
expect_ok "audit verify: a test run's log" "$(wc -l <"$tmp/test.log")" \
    "$bin" audit verify --keys "$K" "$tmp/test.log"
n=$(wc -l <"$L")

# Tampering: an edited field, a deleted line, a cut-off end, another key.
sed '4s/"decision":"allow"/"decision":"deny"/' "$L" >"$tmp/edited.log"
expect_err "audit verify: an edited record" 1 "$tmp/edited.log:4: error: mac mismatch: record 4" \
    "$bin" audit verify --keys "$K" "$tmp/edited.log"
if [ ! -s "$tmp/out" ]; then passed=$((passed + 1)); else fail "audit verify: broken" "printed ok"; fi
sed '2d' "$L" >"$tmp/deleted.log"
expect_err "audit verify: a deleted record" 1 \
    "$tmp/deleted.log:2: error: sequence gap: record 3 where 2 was expected" \
    "$bin" audit verify --keys "$K" "$tmp/deleted.log"
printf '%s' "$(cat "$L")" >"$tmp/cut.log"
expect_err "audit verify: a log cut inside a line" 1 "$tmp/cut.log:$n: error: truncated" \
    "$bin" audit verify --keys "$K" "$tmp/cut.log"
expect_err "audit verify: another key" 1 "$tmp/audit.log:1: error: mac mismatch" \
    "$bin" audit verify --keys "$K2" "$L"
printf 'not a record\n' >"$tmp/junk.log"
expect_err "audit verify: not a log" 1 "$tmp/junk.log:1: error: malformed" \
    "$bin" audit verify --keys "$K" "$tmp/junk.log"
expect_err "audit verify: an empty log" 1 "/dev/null:1: error: empty log" \
    "$bin" audit verify --keys "$K" /dev/null
expect_err "audit verify: an empty log, public key" 1 "/dev/null:1: error: empty log" \
    "$bin" audit verify --pubkey "$PUB" /dev/null

# What the verifier knows: where the log ends, whose it is.
head -n $((n - 1)) "$L" >"$tmp/short.log"
expect_ok "audit verify: cut at a record boundary leaves no trace" $((n - 1)) \
    "$bin" audit verify --keys "$K" "$tmp/short.log"
expect_err "audit verify: --expect-last catches a cut at a record boundary" 1 \
    "$tmp/short.log:$((n - 1)): error: unexpected end: the log ends at record $((n - 1)) where record $n was expected last" \
    "$bin" audit verify --keys "$K" --expect-last "$n" "$tmp/short.log"
expect_ok "audit verify: --expect-last at the end" "$n" \
    "$bin" audit verify --keys "$K" --expect-last "$n" "$L"
expect_err "audit verify: --expect-last 0" 2 "expected a record number" \
    "$bin" audit verify --keys "$K" --expect-last 0 "$L"
expect_err "audit verify: --expect-last not a number" 2 "expected a record number" \
    "$bin" audit verify --keys "$K" --expect-last 1x "$L"
# The CLI's engines have no name: any --engine is another engine.
expect_err "audit verify: --engine" 1 "$L:1: error: engine mismatch" \
    "$bin" audit verify --keys "$K" --engine agentauthz "$L"
# Another engine's log under the same audit key: K's audit key, K2's signing key.
{ head -1 "$K"; sed -n 2p "$K2"; sed -n '3,4p' "$K"; } >"$tmp/keys-same-audit"
chmod 600 "$tmp/keys-same-audit"
expect_err "audit verify: another engine's log under the same audit key" 1 \
    "$L:1: error: engine mismatch: the log was started by another engine" \
    "$bin" audit verify --keys "$tmp/keys-same-audit" "$L"
# Two logs of one key spliced: the records of the second carry another log id.
{ head -n 3 "$L"; sed -n '4,$p' "$tmp/test.log"; } >"$tmp/spliced.log"
expect_err "audit verify: spliced logs" 1 "$tmp/spliced.log:4: error: log id mismatch" \
    "$bin" audit verify --keys "$K" "$tmp/spliced.log"

# The public key alone: the hash chain and the signatures.
expect_ok "audit verify: --pubkey" "$n" "$bin" audit verify --pubkey "$PUB" "$L"
printf '%s\n' "$PUB" >"$tmp/pub.txt"
expect_ok "audit verify: --pubkey FILE" "$n" "$bin" audit verify --pubkey "$tmp/pub.txt" "$L"
expect_ok "audit verify: --pubkey, records after the last checkpoint" $((n - 1)) \
    "$bin" audit verify --pubkey "$PUB" "$tmp/short.log"
if grep -q '[1-9][0-9]* after the last checkpoint NOT verified (no audit key)' "$tmp/out"; then
    passed=$((passed + 1))
else
    fail "audit verify: --pubkey reports unsigned records" "$(cat "$tmp/out")"
fi
expect_err "audit verify: --pubkey catches an edit before the last checkpoint" 1 \
    "$tmp/edited.log:5: error: prev mismatch" \
    "$bin" audit verify --pubkey "$PUB" "$tmp/edited.log"
sed '$s/"sig":"[0-9a-f]*"/"sig":"'"$(printf '%0128d' 0)"'"/' "$L" >"$tmp/forged.log"
expect_err "audit verify: --pubkey, a forged checkpoint" 1 \
    "$tmp/forged.log:$n: error: bad signature: record $n: the checkpoint signature does not verify" \
    "$bin" audit verify --pubkey "$PUB" "$tmp/forged.log"
expect_err "audit verify: another engine's public key" 1 "$L:1: error: engine mismatch" \
    "$bin" audit verify --pubkey "$(sed -n 1p "$tmp/pub2")" "$L"
expect_err "audit verify: --pubkey given a key file" 2 "is a key file" \
    "$bin" audit verify --pubkey "$K" "$L"

# The file sink does not follow a symbolic link planted at the log's path.
ln -s "$tmp/link-target.log" "$tmp/link.log"
expect_err "check: --audit refuses a symbolic link" 2 "the path is a symbolic link" \
    c --keys "$K" --audit "$tmp/link.log" --tool read_file --resource /kb/howto.md
if [ -e "$tmp/link-target.log" ]; then
    fail "check: --audit through a link" "the link's target was created"
else
    passed=$((passed + 1))
fi

# A rotated log: the chain runs through the files in order.
head -n 3 "$L" >"$tmp/r.1"
sed -n "4,$((n - 2))p" "$L" >"$tmp/r.2"
tail -n 2 "$L" >"$tmp/r.3"
expect_ok "audit verify: a rotated log" "$n" \
    "$bin" audit verify --keys "$K" "$tmp/r.1" "$tmp/r.2" "$tmp/r.3"
expect_err "audit verify: rotated files out of order" 1 \
    "$tmp/r.2:1: error: sequence gap: record 4 where 1 was expected" \
    "$bin" audit verify --keys "$K" "$tmp/r.2" "$tmp/r.1" "$tmp/r.3"
expect_err "audit verify: a rotated file missing" 1 \
    "$tmp/r.3:1: error: sequence gap: record $((n - 1)) where 4 was expected" \
    "$bin" audit verify --keys "$K" "$tmp/r.1" "$tmp/r.3"
expect_err "audit verify: a rotated file twice" 1 "$tmp/r.1:1: error: sequence gap" \
    "$bin" audit verify --keys "$K" "$tmp/r.1" "$tmp/r.1" "$tmp/r.2"

# Usage and unreadable input: exit 2.
expect_err "audit verify: an unreadable log" 2 "$tmp/no-such.log" \
    "$bin" audit verify --keys "$K" "$tmp/no-such.log"
expect_err "audit verify: needs --keys" 2 "missing --keys" "$bin" audit verify "$L"
expect_err "audit verify: needs a log" 2 "missing LOG" "$bin" audit verify --keys "$K"
expect_err "audit verify: a 0644 key file" 2 "chmod 600" \
    "$bin" audit verify --keys "$tmp/keys644" "$L"
expect_err "audit: needs verify" 2 "missing subcommand" "$bin" audit
expect_err "audit: only verify" 2 "unknown subcommand 'check'" "$bin" audit check
for cmd in "c --tool x" "$bin replay $P -" "$bin test $P spec-tests.yaml"; do
    # shellcheck disable=SC2086 # the words of $cmd are the command
    expect_err "--audit needs --keys: ${cmd%% *}" 2 "--audit needs --keys FILE" \
        $cmd --audit "$tmp/never.log" </dev/null
done
if [ -e "$tmp/never.log" ]; then
    fail "--audit without --keys" "wrote a log"
else
    passed=$((passed + 1))
fi
expect_err "check: a 0644 key file" 2 "mode 0644 lets group or other in" \
    c --keys "$tmp/keys644" --tool x
expect_err "replay: a missing key file" 2 "$tmp/no-such-keys" \
    "$bin" replay --keys "$tmp/no-such-keys" $P - </dev/null
printf 'agentauthz-keys v1\nsign: nope\n' >"$tmp/badkeys"
chmod 600 "$tmp/badkeys"
expect_err "test: a malformed key file" 2 "$tmp/badkeys:2:" \
    "$bin" test --keys "$tmp/badkeys" $P spec-tests.yaml
expect_err "check: --keys once" 2 "'--keys' given twice" c --keys "$K" --keys "$K" --tool x
expect_err "check: a log of other keys is not continued" 2 "cannot resume" \
    c --keys "$K2" --audit "$L" --tool x
expect_err "lint: takes no --keys" 2 "unknown option '--keys'" "$bin" lint --keys "$K" $P

# ---- keys jwks, token sign, token verify ----
# A fixed key file (the all-zero Ed25519 seed): Ed25519 is deterministic, so the
# JWK Set and every token signed with it are known exactly.
Z=$tmp/zero-keys
printf 'agentauthz-keys v1\nsign: %s\nmaster: %s\naudit: %s\n' \
    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA >"$Z"
chmod 600 "$Z"
ZPUB=azpk1.O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik
JWKS='{"keys":[{"kty":"OKP","crv":"Ed25519","x":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik","kid":"9ZP03Nu8GrXPAUkbKNxHOKBzxPX83SShgFkRNK-f2lw","alg":"EdDSA","use":"sig"}]}'
expect_out "keys jwks: the JWK Set of a key file" 0 "$JWKS" "$bin" keys jwks --keys "$Z"
printf '%s\n' "$JWKS" >"$tmp/jwks"
run "$bin" keys jwks --keys "$K"
if [ "$status" -eq 0 ] && grep -qF "\"x\":\"${PUB#azpk1.}\"" "$tmp/out" &&
    ! grep -qF -- "$(sed -n 2p "$K" | cut -c7-)" "$tmp/out"; then
    passed=$((passed + 1))
else
    fail "keys jwks: the public key, nothing secret" "status $status: $(cat "$tmp/out" "$tmp/err")"
fi
expect_err "keys jwks: needs --keys" 2 "missing --keys FILE" "$bin" keys jwks
expect_err "keys jwks: a 0644 key file" 2 "mode 0644 lets group or other in" \
    "$bin" keys jwks --keys "$tmp/keys644"
expect_err "keys: needs jwks" 2 "unknown subcommand 'list'" "$bin" keys list

T_HDR=eyJhbGciOiJFZERTQSIsInR5cCI6InR4bnRva2VuK2p3dCIsImtpZCI6IjlaUDAzTnU4R3JYUEFVa2JLTnhIT0tCenhQWDgzU1NoZ0ZrUk5LLWYybHcifQ
T_WANT=$T_HDR.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwic3ViIjoic3BpZmZlOi8vY29ycC5leGFtcGxlL2FnZW50cy9hIiwiYXVkIjoiaHR0cHM6Ly9hcGkuY29ycC5leGFtcGxlIiwiaWF0IjoxMDAwLCJleHAiOjIwMDAsInR4biI6InMxIiwic2NvcGUiOiJ0cmlhZ2UtdGlja2V0IiwidGN0eCI6eyJ0b29scyI6WyJyZWFkX2ZpbGUiLCJnaXRodWIuKiJdfX0.RNPMFHtv2ggwEEyzky7hkrAEaZqGaQnB2Bp-g4ySavfqMVz8489n0dFzn7PgfqOeFIB8I_9Oh7oFtaBeL3nbAQ
T2_WANT=$T_HDR.eyJzdWIiOiJhXCJiIiwiYXVkIjoiYXVkIiwiaWF0IjoxMDAwLCJleHAiOjIwMDAsInR4biI6InMyIiwic2NvcGUiOiJ0IiwidGN0eCI6eyJ0b29scyI6W10sInBhcmVudCI6InAxIiwicGFyYW1zIjp7InRpY2tldCI6IlQtMSIsIm4iOjJ9fX0.XS1xuUpQg0nWh0DH6KsnitByJBB3rCN-5jezv2m48J5SiwWtyXHfeR_7kCNCKrUazM_RqUW3nZL6z7pSxafDCw
ts() { "$bin" token sign --keys "$Z" "$@"; }
expect_out "token sign: the exact token" 0 "$T_WANT" \
    ts --identity spiffe://corp.example/agents/a --task triage-ticket \
    --audience https://api.corp.example --tool read_file --tool 'github.*' \
    --issuer https://issuer.example --session s1 --now 1000 --ttl 1000s
expect_out "token sign: a parent, params, escaping" 0 "$T2_WANT" \
    ts --identity 'a"b' --task t --audience aud --session s2 --parent p1 \
    --params '{"ticket": "T-1", "n": 2}' --now 1000 --ttl 1000s
T=$T_WANT T2=$T2_WANT
if [ -x "$mint" ]; then
    # The public API, called directly, signs the same bytes.
    expect_out "token sign: as agentauthz_token_sign" 0 "$T" "$mint" "$Z" \
        spiffe://corp.example/agents/a triage-ticket s1 https://api.corp.example \
        1000 2000 https://issuer.example - read_file 'github.*'
    TO=$("$mint" "$K2" spiffe://corp.example/agents/a triage-ticket s1 https://api.corp.example \
        1000 2000 https://issuer.example - read_file 'github.*')
else
    fail "token sign" "no mint-token helper at $mint"
    TO=missing
fi
# Defaults: a random 32-hex-digit session, now, five minutes.
run ts --identity a --task t --audience x
if [ "$status" -eq 0 ] && "$bin" token verify --pubkey "$ZPUB" "$(cat "$tmp/out")" >"$tmp/claims" &&
    grep -qE '"iat":([0-9]+),"exp":' "$tmp/claims" &&
    grep -qE '"txn":"[0-9a-f]{32}","scope":"t","tctx":\{"tools":\[\]\}\}$' "$tmp/claims"; then
    iat=$(sed 's/.*"iat":\([0-9]*\),"exp":\([0-9]*\).*/\1 \2/' "$tmp/claims")
    set -- $iat
    if [ $(($2 - $1)) -eq 300 ]; then passed=$((passed + 1)); else fail "token sign: defaults" "ttl $(($2 - $1))"; fi
else
    fail "token sign: defaults" "status $status: $(cat "$tmp/err" "$tmp/claims" 2>/dev/null)"
fi
expect_err "token sign: needs the claims" 2 "needs --keys FILE, --identity ID, --task TASK and --audience AUD" \
    ts --identity a --task t
expect_err "token sign: params are an object" 2 "params must be NULL or the JSON text of an object" \
    ts --identity a --task t --audience x --params '[1]'
expect_err "token sign: --ttl is a duration" 2 "--ttl must be a duration" \
    ts --identity a --task t --audience x --ttl 5x
expect_err "token sign: --now is a number" 2 "--now must be" \
    ts --identity a --task t --audience x --now -1
expect_err "token sign: a bad key file" 2 "$tmp/badkeys:2:" \
    "$bin" token sign --keys "$tmp/badkeys" --identity a --task t --audience x
expect_err "token sign: an empty identity" 2 "identity, task, session and audience must be non-empty" \
    ts --identity '' --task t --audience x
expect_err "token sign: --tool twice is two tools, --task twice is refused" 2 "'--task' given twice" \
    ts --identity a --task t --task u --audience x

CLAIMS='{"iss":"https://issuer.example","sub":"spiffe://corp.example/agents/a","aud":"https://api.corp.example","iat":1000,"exp":2000,"txn":"s1","scope":"triage-ticket","tctx":{"tools":["read_file","github.*"]}}'
tv() { "$bin" token verify "$@"; }
PUB=$ZPUB
expect_out "token verify: valid" 0 "$CLAIMS" tv --pubkey "$PUB" --now 1500 "$T"
expect_out "token verify: with the JWK Set" 0 "$CLAIMS" tv --jwks "$tmp/jwks" --now 1500 "$T"
expect_out "token verify: the audience" 0 "$CLAIMS" \
    tv --pubkey "$PUB" --audience https://api.corp.example --now 1500 "$T"
printf '%s\n' "$PUB" >"$tmp/pub"
expect_out "token verify: the key from a file" 0 "$CLAIMS" tv --pubkey "$tmp/pub" --now 1500 "$T"
expect_out "token verify: the token from stdin" 0 "$CLAIMS" \
    sh -c 'printf "%s\n" "$3" | "$0" token verify --pubkey "$1" --now "$2" -' "$bin" "$PUB" 1500 "$T"
expect_out "token verify: no issuer, a parent, params, escaping" 0 \
    '{"sub":"a\"b","aud":"aud","iat":1000,"exp":2000,"txn":"s2","scope":"t","tctx":{"tools":[],"parent":"p1","params":{"ticket":"T-1","n":2}}}' \
    tv --pubkey "$PUB" --now 1000 "$T2"
expect_out "token verify: within the skew" 0 "$CLAIMS" tv --pubkey "$PUB" --now 2060 "$T"
expect_err "token verify: past the skew" 1 "error: expired:" tv --pubkey "$PUB" --now 2061 "$T"
expect_err "token verify: --skew 0" 1 "error: expired:" \
    tv --pubkey "$PUB" --skew 0 --now 2001 "$T"
expect_err "token verify: expired" 1 "error: expired:" tv --pubkey "$PUB" --now 99999999 "$T"
expect_err "token verify: the system clock" 1 "error: expired:" tv --pubkey "$PUB" "$T"
expect_err "token verify: not valid yet" 1 "error: malformed:" tv --pubkey "$PUB" --now 100 "$T"
expect_err "token verify: wrong audience" 1 "error: wrong audience:" \
    tv --pubkey "$PUB" --audience https://other.example --now 1500 "$T"
# Tampered: the claims of one token under the signature of another.
TT="${T2%.*}.${T##*.}"
expect_err "token verify: tampered claims" 1 "error: invalid:" tv --pubkey "$PUB" --now 1500 "$TT"
expect_err "token verify: another engine's token" 1 "error: unknown key:" \
    tv --pubkey "$PUB" --now 1500 "$TO"
expect_err "token verify: another engine's token, by JWK Set" 1 "error: unknown key:" \
    tv --jwks "$tmp/jwks" --now 1500 "$TO"
# Another key's signature under this key's kid.
TF="${T%.*}.${TO##*.}"
expect_err "token verify: a forged signature" 1 "error: invalid:" tv --pubkey "$PUB" --now 1500 "$TF"
# Headers another JWT library might write: alg none, HS256, typ JWT.
b64url() { printf '%s' "$1" | base64 | tr -d '\n=' | tr '+/' '-_'; }
P64=${T#*.}
P64=${P64%.*}
S64=${T##*.}
expect_err "token verify: alg none" 1 'error: algorithm refused: the token is unsigned ("alg": "none")' \
    tv --pubkey "$PUB" --now 1500 "$(b64url '{"alg":"none","typ":"txntoken+jwt"}').$P64."
expect_err "token verify: alg HS256" 1 "error: algorithm refused: the token's algorithm is not EdDSA" \
    tv --pubkey "$PUB" --now 1500 "$(b64url '{"alg":"HS256","typ":"txntoken+jwt","kid":"9ZP03Nu8GrXPAUkbKNxHOKBzxPX83SShgFkRNK-f2lw"}').$P64.$S64"
expect_err "token verify: typ JWT" 1 "error: wrong type: the token's type is not txntoken+jwt" \
    tv --pubkey "$PUB" --now 1500 "$(b64url '{"alg":"EdDSA","typ":"JWT","kid":"9ZP03Nu8GrXPAUkbKNxHOKBzxPX83SShgFkRNK-f2lw"}').$P64.$S64"
expect_err "token verify: no kid" 1 "error: unknown key: the token's header has no \"kid\" string" \
    tv --pubkey "$PUB" --now 1500 "$(b64url '{"alg":"EdDSA","typ":"txntoken+jwt"}').$P64.$S64"
expect_err "token verify: a duplicate header key" 1 "error: malformed: the token's header has a duplicate key" \
    tv --pubkey "$PUB" --now 1500 "$(b64url '{"alg":"EdDSA","alg":"EdDSA","typ":"txntoken+jwt","kid":"9ZP03Nu8GrXPAUkbKNxHOKBzxPX83SShgFkRNK-f2lw"}').$P64.$S64"
expect_err "token verify: too large" 1 "error: too large: a token is at most 8192 bytes" \
    tv --pubkey "$PUB" --now 1500 "$T$(head -c 9000 /dev/zero | tr '\0' A)"
expect_err "token verify: garbage" 1 "error: malformed:" tv --pubkey "$PUB" --now 1500 garbage
expect_err "token verify: empty" 1 "error: malformed:" tv --pubkey "$PUB" --now 1500 ""
expect_err "token verify: an extra dot" 1 "error: malformed:" \
    tv --pubkey "$PUB" --now 1500 "$T.x"
run sh -c 'head -c 20000 /dev/urandom | "$0" token verify --pubkey "$1" -' "$bin" "$PUB"
if [ "$status" -eq 1 ] && grep -qE '^error: (malformed|too large): ' "$tmp/err"; then
    passed=$((passed + 1))
else
    fail "token verify: binary on stdin" "status $status: $(cat "$tmp/err")"
fi
run tv --pubkey "$PUB" --now 1500 "${T%.*}.$(printf '%s' "${T##*.}" | tr 'A-Za-z' 'B-ZAb-za')"
if [ "$status" -eq 1 ] && grep -qE '^error: (invalid|malformed): ' "$tmp/err" &&
    ! grep -qF -- "${T##*.}" "$tmp/err" && ! grep -qF -- "$P64" "$tmp/err"; then
    passed=$((passed + 1))
else
    fail "token verify: an edited signature" "status $status: $(cat "$tmp/err")"
fi
expect_err "token verify: a bad key" 2 "invalid public key" tv --pubkey azpk1.abc --now 1 "$T"
expect_err "token verify: a key file is not a public key" 2 "is a key file" \
    tv --pubkey "$K" --now 1500 "$T"
if ! grep -qF -- "$(sed -n 2p "$K" | cut -c7-)" "$tmp/err"; then
    passed=$((passed + 1))
else
    fail "token verify: a key file" "a secret was printed"
fi
expect_err "token verify: a missing key file" 2 "$tmp/no-pub" tv --pubkey "$tmp/no-pub" "$T"
expect_err "token verify: a missing JWK Set" 2 "token verify: --jwks $tmp/no-jwks:" \
    tv --jwks "$tmp/no-jwks" "$T"
printf '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"%s","d":"%s"}]}' \
    O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA >"$tmp/private.jwks"
expect_err "token verify: a JWK Set with a private key" 2 "holds a private key" \
    tv --jwks "$tmp/private.jwks" "$T"
expect_err "token verify: needs --pubkey" 2 "missing --pubkey KEY (or --jwks FILE)" tv "$T"
expect_err "token verify: --pubkey or --jwks" 2 "give --pubkey KEY or --jwks FILE, not both" \
    tv --pubkey "$PUB" --jwks "$tmp/jwks" "$T"
expect_err "token verify: one token" 2 "expected one TOKEN" tv --pubkey "$PUB" "$T" "$T"
expect_err "token verify: --skew is bounded" 2 "--skew must be" tv --pubkey "$PUB" --skew 86401 "$T"
expect_err "token verify: --now is a number" 2 "--now must be" tv --pubkey "$PUB" --now 12x "$T"
expect_err "token verify: --now 0" 2 "--now must be" tv --pubkey "$PUB" --now 0 "$T"
expect_err "token: verify or sign" 2 "unknown subcommand 'mint' (expected verify or sign)" \
    "$bin" token mint

# ---- provenance: observe lines and steps, from and not_from (issue 11) ----
PP=provenance-policy.yaml
expect_file "replay: observe lines, from, not_from, dropped output fails closed" 1 \
    provenance-trace.expected "$bin" replay $PP provenance-trace.jsonl
expect_out "test: observe steps" 0 "1 passed, 0 failed" "$bin" test $PP provenance-tests.yaml
expect_file "test: an observation that cannot be recorded fails its step" 1 \
    provenance-failing-tests.expected "$bin" test $PP provenance-failing-tests.yaml
printf 'tests:\n  - name: x\n    identity: a\n    task: pay\n    steps:\n      - { observe: { tool: t, output: x }, tool: y }\n' >"$tmp/obs1.yaml"
expect_err "test: an observe step takes no other keys" 2 \
    "obs1.yaml:6:9: error: an observe step takes no other keys" "$bin" test $PP "$tmp/obs1.yaml"
printf 'tests:\n  - name: x\n    identity: a\n    task: pay\n    steps:\n      - { observe: { tool: t, outptu: x } }\n' >"$tmp/obs2.yaml"
expect_err "test: observe keys are checked" 2 \
    "obs2.yaml:6:31: error: unknown key 'outptu' in observe (expected tool, output or labels)" \
    "$bin" test $PP "$tmp/obs2.yaml"
printf 'tests:\n  - name: x\n    identity: a\n    task: pay\n    steps:\n      - { observe: { tool: t } }\n' >"$tmp/obs3.yaml"
expect_err "test: observe needs an output" 2 \
    "obs3.yaml:6:20: error: 'observe' needs 'tool' and 'output'" "$bin" test $PP "$tmp/obs3.yaml"
printf '%s\n' 'agentauthz: 1' 'rules:' \
    '  - { id: r, effect: allow, tools: [x], where: { args.a: { from: 3 } } }' \
    >"$tmp/badfrom.yaml"
expect_err "lint: from takes labels" 1 \
    "badfrom.yaml:3:66: error: from and not_from take labels (names such as untrusted) or param" \
    "$bin" lint "$tmp/badfrom.yaml"
printf '%s\n' 'agentauthz: 1' 'tools: { t: { output: [param] } }' 'rules: []' >"$tmp/badout.yaml"
expect_err "lint: param is no output label" 1 \
    "badout.yaml:2:24: error: \"param\" is not an output label" "$bin" lint "$tmp/badout.yaml"

# ---- links in text and optional parameters (issue 11, items 3 and 4) ----
L=links-policy.yaml
lm() { "$bin" check $L --identity i --task mail --param to='"bob@corp.example"' "$@"; }
FOREIGN='{"decision":"deny","rule":"no-foreign-links","reason":"a link or address in the body leaves the trusted sites"}'
expect_out "links: hosts(args.body) all trusted" 0 \
    '{"decision":"allow","rule":"to-the-user","reason":""}' \
    lm --tool send_email --arg to='"bob@corp.example"' \
    --arg body='"see [docs](https://docs.example/a) or mail ann@corp.example"'
expect_out "links: a markdown image to another host" 0 "$FOREIGN" \
    lm --tool send_email --arg to='"bob@corp.example"' --arg body='"![x](https://evil.example/?q=1)"'
expect_out "links: a trusted name as a subdomain of another" 0 "$FOREIGN" \
    lm --tool send_email --arg to='"bob@corp.example"' --arg body='"https://docs.example.evil.example/"'
expect_out "links: userinfo is not the host" 0 "$FOREIGN" \
    lm --tool send_email --arg to='"bob@corp.example"' --arg body='"https://docs.example@evil.example/"'
expect_out "links: an e-mail address's host" 0 "$FOREIGN" \
    lm --tool send_email --arg to='"bob@corp.example"' --arg body='"write to eve@evil.example"'
expect_out "links: a protocol-relative href" 0 "$FOREIGN" \
    lm --tool send_email --arg to='"bob@corp.example"' --arg body='"<a href=\"//evil.example/x\">x</a>"'
body=$(awk 'BEGIN { for (i = 0; i < 1025; i++) printf "https://docs.example " }')
expect_out "links: over 1024 items the check is denied" 0 \
    '{"decision":"deny","rule":"no-foreign-links","reason":"a condition could not be evaluated: more than 1024 links, hosts or e-mail addresses in one field"}' \
    lm --tool send_email --arg to='"bob@corp.example"' --arg body="\"$body\""
expect_out "links: --payload and links(payload)" 0 \
    '{"decision":"allow","rule":"post-docs-only","reason":""}' \
    lm --tool post --payload '<a href="https://docs.example/x">x</a>'
expect_out "links: --payload and hosts(payload)" 0 \
    '{"decision":"deny","rule":"no-foreign-payload","reason":""}' \
    lm --tool post --payload '<a href="https://docs.example/x">x</a><img src=//evil.example/p.png>'
expect_out "links: no payload, no links" 0 '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    lm --tool post
expect_err "links: --payload once" 2 "option '--payload' given twice" \
    lm --tool post --payload a --payload b
expect_out "optional: an absent list parameter matches nothing" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    lm --tool add_cc --arg cc='"ann@corp.example"'
lt() { "$bin" check $L --identity i --task travel --param flight='"LH1"' "$@"; }
NOHOTEL='{"decision":"deny","rule":"no-hotel-asked","reason":"the user asked for no hotel"}'
expect_out "optional: left out" 0 "$NOHOTEL" \
    lt --param guests='[]' --tool book_hotel --arg hotel='"Ritz"'
expect_out "optional: null is absent" 0 "$NOHOTEL" \
    lt --param guests='[]' --param hotel=null --tool book_hotel --arg hotel='"Ritz"'
expect_out "optional: given" 0 '{"decision":"allow","rule":"hotel","reason":""}' \
    lt --param guests='[]' --param hotel='"Ritz"' --tool book_hotel --arg hotel='"Ritz"'
expect_out "optional: given, one character away" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    lt --param guests='[]' --param hotel='"Ritz"' --tool book_hotel --arg hotel='"Ritz "'
expect_out "optional: still typed" 0 \
    '{"decision":"deny","rule":"session","reason":"parameter \"hotel\" must be a string"}' \
    lt --param guests='[]' --param hotel=5 --tool book_hotel --arg hotel='"Ritz"'
expect_out "optional: an empty list parameter" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    lt --param guests='[]' --tool add_guest --arg name='"ann"'
expect_out "optional: a required list is still required" 0 \
    '{"decision":"deny","rule":"session","reason":"task \"travel\" needs parameter \"guests\" (list)"}' \
    lt --tool add_guest --arg name='"ann"'
expect_file "replay: links in text and optional parameters" 0 links-trace.expected \
    "$bin" replay $L links-trace.jsonl
expect_out "test: links in text and optional parameters" 0 "5 passed, 0 failed" \
    "$bin" test $L links-tests.yaml


# ---- resource and destination arguments (issue 12, item 2) ----
CA=catargs-policy.yaml
ca() { "$bin" check $CA --identity i --task work "$@"; }
expect_out "catalogue: move_file with both ends allowed" 0 \
    '{"decision":"allow","rule":"ws","reason":""}' \
    ca --tool fs.move_file --args '{"source":"/ws/a","destination":"/ws/b"}'
expect_out "catalogue: move_file's destination is checked" 0 \
    '{"decision":"deny","rule":"no-secret","reason":"secrets stay put"}' \
    ca --tool fs.move_file --args '{"source":"/ws/a","destination":"/secret/b"}'
expect_out "catalogue: one path of read_multiple_files one segment away" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    ca --tool fs.read_multiple_files --args '{"paths":["/ws/a","/wsx/b"]}'
expect_out "catalogue: an outside bcc" 0 \
    '{"decision":"deny","rule":"default","reason":"no rule matched"}' \
    ca --tool mail.send --arg to='"a@corp.example"' --arg bcc='["x@evil.example"]'
expect_file "replay: resource and destination arguments" 0 catargs-trace.expected \
    "$bin" replay $CA catargs-trace.jsonl
# One audit record per check, however many values it was made for.
"$bin" replay --keys "$K" --audit "$tmp/catargs.log" $CA catargs-trace.jsonl >/dev/null 2>&1
if [ "$(grep -c '"event":"check"' "$tmp/catargs.log")" -eq 9 ]; then
    passed=$((passed + 1))
else
    fail "replay: one audit record per check" "$(grep -c '"event":"check"' "$tmp/catargs.log")"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

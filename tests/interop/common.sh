# The shared part of the interop tests (sourced by interop-jose.sh,
# interop-pyjwt.sh and interop-golang-jwt.sh): task tokens made by
# 'agentauthz token sign' must verify with a JWT library that holds only the
# JWK Set of 'agentauthz keys jwks', and tokens that library signs must be
# accepted or refused by 'agentauthz token verify' as listed in expect().
#
# Each library's program (node/, python/, go/), which the calling script
# defines as the shell function prog, has two commands:
#   prog verify JWKS AUDIENCE TOKEN   prints "NAME VALUE" lines: alg, typ,
#       kid, thumbprint (RFC 7638, computed by the program from the JWK),
#       iss ("-" when absent), sub, aud, scope, txn, iat, exp, tools (comma
#       separated); a refused token prints "refused: WHY" and exits 3.
#   prog sign KEYFILE JWKS AUDIENCE   prints "CASE TOKEN" lines, one per case
#       of expect(); the engine's key is derived from the key file's seed.
#
# Environment: top_srcdir and top_builddir (make check sets them); the
# command is $AGENTAUTHZ, else $top_builddir/cli/agentauthz. Installs go to
# $top_builddir/interop-work/LIB (kept between runs; make distclean removes
# it), nothing is written under the source tree. Exits 77 (skipped, with
# one line saying why) when the library's registry cannot be reached or a
# tool is missing.

IDENTITY=spiffe://corp.example/agents/support/7
TASK=triage-ticket
AUDIENCE=https://tickets.corp.example
ISSUER=agentauthz-interop
SESSION=3f1c0ffee5e55105e55105e55105e551
PARENT=9a7e0ffee5e55105e55105e55105e551
# Members sorted: each program prints params so.
PARAMS='{"priority":2,"ticket":"T-42"}'

# interop_setup LIB: sets script, bin, work (the install directory) and tmp.
interop_setup() {
    lib=$1
    script=$(basename "$0")
    top_builddir=${top_builddir:-.}
    top_builddir=$(cd "$top_builddir" && pwd)
    bin=${AGENTAUTHZ:-$top_builddir/cli/agentauthz}
    if [ ! -x "$bin" ]; then
        echo "$script: no agentauthz command at $bin" >&2
        exit 2
    fi
    if [ -z "${AGENTAUTHZ:-}" ] && [ ! -f "$top_builddir/lib/.libs/libagentauthz.so" ]; then
        # Once is enough, and the JWT libraries need not be fetched twice.
        skip "a static-only build (the sanitizer builds); the shared build in build/ runs the interop tests"
    fi
    work=$top_builddir/interop-work/$lib
    mkdir -p "$work" || exit 2
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/interop-$lib.XXXXXX") || exit 2
    trap 'rm -rf "$tmp"' EXIT INT TERM
    passed=0
    failed=0
    start_all=$(date +%s)
}

skip() {
    echo "$script: $1: skipped"
    exit 77
}

# need TOOL...: skips when a tool is missing.
need() {
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
    done
}

# fetch_failed LOG WHAT: after a failed install, skips when LOG shows the
# registry could not be reached, else fails with the log.
fetch_failed() {
    reason=$(grep -Eio -m1 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|network is unreachable|Temporary failure in name resolution|Name or service not known|Failed to establish a new connection|NewConnectionError|ConnectTimeout|Max retries exceeded|no such host|i/o timeout|connection refused|connection reset|dial tcp|GOPROXY=off|proxy.*disabled' "$1" | head -n 1)
    if [ -n "$reason" ]; then
        skip "$2 cannot be reached ($reason)"
    fi
    cat "$1" >&2
    echo "$script: installing $2 failed (log above)" >&2
    exit 1
}

# elapsed START: seconds since START.
elapsed() {
    echo $(( $(date +%s) - $1 ))
}

ok() {
    echo "ok   $lib: $1"
    passed=$((passed + 1))
}

fail() {
    echo "FAIL $lib: $1"
    shift
    for line in "$@"; do
        echo "     $line"
    done
    failed=$((failed + 1))
}

# field FILE NAME: the value of the "NAME VALUE" line of a verify output.
field() {
    sed -n "s/^$2 //p" "$1" | head -n 1
}

# json_string FILE NAME: the string member NAME of compact JSON text.
json_string() {
    sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -n 1
}

# expect CASE: the verdict of 'agentauthz token verify' on the case's token:
# "0" (accepted) or "1 REGEX" (refused, with a line of standard error that
# the extended REGEX matches whole: "error: REASON: MESSAGE", the reasons
# those agentauthz(1) lists).
expect() {
    case $1 in
    good | good-tctx | good-mediatype) echo "0" ;;
    foreign-key) echo "1 error: invalid: the token's signature does not verify with its key" ;;
    foreign-kid) echo "1 error: unknown key: the token's \"kid\" names no key this verifier holds" ;;
    no-kid) echo "1 error: unknown key: the token's header has no \"kid\" string" ;;
    hs256-pubkey | es256 | rs256)
        echo "1 error: algorithm refused: the token's algorithm is not EdDSA \(only Ed25519 signatures are accepted\)" ;;
    alg-none) echo "1 error: algorithm refused: the token is unsigned \(\"alg\": \"none\"\): refused" ;;
    typ-jwt) echo "1 error: wrong type: the token's type is not txntoken\+jwt \(not a transaction token\)" ;;
    no-typ) echo "1 error: wrong type: the token's header has no \"typ\" \(expected txntoken\+jwt\)" ;;
    crit) echo "1 error: malformed: malformed token: the header has \"crit\": no JWS extension is supported" ;;
    dup-sub) echo "1 error: malformed: the token's payload has a duplicate key" ;;
    oversized) echo "1 error: too large: a token is at most 8192 bytes" ;;
    expired) echo "1 error: expired: the token expired [0-9]+ seconds ago" ;;
    wrong-aud) echo "1 error: wrong audience: the token is for another audience" ;;
    *) echo "2 unknown case" ;;
    esac
}
# describe CASE: what the case's token is, and the verdict.
describe() {
    case $1 in
    good) echo "b  $1: signed by $lib with the engine's key: accepted" ;;
    good-tctx) echo "b  $1: tctx with parent and params: accepted" ;;
    good-mediatype) echo "b  $1: typ application/txntoken+jwt: accepted" ;;
    foreign-key) echo "c  $1: another Ed25519 key under the engine's kid: refused" ;;
    foreign-kid) echo "c  $1: another Ed25519 key under its own kid: refused" ;;
    hs256-pubkey) echo "c  $1: HS256 keyed with the engine's public key: refused" ;;
    es256 | rs256) echo "c  $1: $(echo "$1" | tr a-z A-Z) under the engine's kid: refused" ;;
    alg-none) echo "c  $1: unsigned, alg none: refused" ;;
    typ-jwt) echo "c  $1: typ JWT: refused" ;;
    no-typ) echo "c  $1: no typ: refused" ;;
    no-kid) echo "c  $1: no kid: refused" ;;
    crit) echo "c  $1: a crit header: refused" ;;
    dup-sub) echo "c  $1: validly signed, \"sub\" twice: refused" ;;
    oversized) echo "c  $1: over 8192 bytes: refused" ;;
    expired) echo "c  $1: expired ten minutes ago: refused" ;;
    wrong-aud) echo "c  $1: for another audience: refused" ;;
    esac
}
CASES="good good-tctx good-mediatype foreign-key foreign-kid hs256-pubkey es256 rs256 alg-none
typ-jwt no-typ no-kid crit dup-sub oversized expired wrong-aud"

# check_lib_token CASE OUT TOKEN TTL ISSUER TOOLS PARENT PARAMS [TXN]: the
# fields the JWT library printed (OUT) are those 'agentauthz token sign' was
# given; without TXN, the session id must be the one 'agentauthz token
# verify' reads.
check_lib_token() {
    name=$1 out=$2 token=$3 ttl=$4 want_iss=$5 want_tools=$6 want_parent=$7 want_params=$8
    txn=${9:-}
    kid=$(json_string "$tmp/jwks.json" kid)
    iat=$(field "$out" iat)
    exp=$(field "$out" exp)
    now=$(date +%s)
    problems=
    if [ -z "$txn" ]; then
        "$bin" token verify --jwks "$tmp/jwks.json" --audience "$AUDIENCE" "$token" \
            >"$tmp/ours" 2>"$tmp/ours.err"
        txn=$(json_string "$tmp/ours" txn)
        [ -n "$txn" ] || problems="|agentauthz token verify printed no txn: $(cat "$tmp/ours" "$tmp/ours.err")"
    fi
    for pair in "alg EdDSA" "typ txntoken+jwt" "kid $kid" "thumbprint $kid" \
        "iss $want_iss" "sub $IDENTITY" "aud $AUDIENCE" "scope $TASK" "txn $txn" \
        "tools $want_tools" "parent $want_parent" "params $want_params"; do
        got=$(field "$out" "${pair%% *}")
        if [ "$got" != "${pair#* }" ]; then
            problems="$problems|${pair%% *} is '$got', expected '${pair#* }'"
        fi
    done
    if [ -z "$kid" ]; then
        problems="$problems|the JWK Set has no kid: $(cat "$tmp/jwks.json")"
    fi
    case $iat$exp in
    *[!0-9]* | '') problems="$problems|iat '$iat' and exp '$exp' are not integers" ;;
    *)
        if [ $((exp - iat)) -ne "$ttl" ] || [ $((iat - now)) -gt 5 ] || [ $((now - iat)) -gt 60 ]; then
            problems="$problems|iat $iat, exp $exp: not issued now ($now) for $ttl s"
        fi
        ;;
    esac
    if [ -z "$problems" ]; then
        ok "$name"
    else
        old_ifs=$IFS
        IFS='|'
        # shellcheck disable=SC2086 # split on |
        fail "$name" $problems
        IFS=$old_ifs
    fi
}

# interop_run: the cases, with the calling script's function prog.
interop_run() {
    start_cases=$(date +%s)
    "$bin" keygen --out "$tmp/keys" >"$tmp/pubkey" 2>"$tmp/err" &&
        "$bin" keygen --out "$tmp/other-keys" >/dev/null 2>>"$tmp/err" &&
        "$bin" keys jwks --keys "$tmp/keys" >"$tmp/jwks.json" 2>>"$tmp/err" &&
        "$bin" keys jwks --keys "$tmp/other-keys" >"$tmp/other.json" 2>>"$tmp/err" || {
        cat "$tmp/err" >&2
        echo "$script: agentauthz keygen or keys jwks failed" >&2
        exit 1
    }
    pubkey=$(cat "$tmp/pubkey")

    # (a) Tokens from 'agentauthz token sign', verified by the JWT library
    # with the JWK Set only.
    name="a1 token sign (tools, issuer, session, parent, params, ttl) verifies with the JWK Set"
    if token=$("$bin" token sign --keys "$tmp/keys" --identity "$IDENTITY" --task "$TASK" \
        --audience "$AUDIENCE" --ttl 5m --tool read_ticket --tool search_kb \
        --issuer "$ISSUER" --session "$SESSION" --parent "$PARENT" --params "$PARAMS" \
        2>"$tmp/err"); then
        if prog verify "$tmp/jwks.json" "$AUDIENCE" "$token" >"$tmp/out" 2>&1; then
            check_lib_token "$name" "$tmp/out" "$token" 300 "$ISSUER" read_ticket,search_kb \
                "$PARENT" "$PARAMS" "$SESSION"
        else
            fail "$name" "$(cat "$tmp/out")"
        fi
    else
        fail "$name" "agentauthz token sign: $(cat "$tmp/err")"
        token=
    fi
    full=$token

    name="a2 token sign (no tool, issuer, session, parent or params; one-hour ttl) verifies with the JWK Set"
    if token=$("$bin" token sign --keys "$tmp/keys" --identity "$IDENTITY" --task "$TASK" \
        --audience "$AUDIENCE" --ttl 1h 2>"$tmp/err"); then
        if prog verify "$tmp/jwks.json" "$AUDIENCE" "$token" >"$tmp/out" 2>&1; then
            check_lib_token "$name" "$tmp/out" "$token" 3600 - "" - -
        else
            fail "$name" "$(cat "$tmp/out")"
        fi
    else
        fail "$name" "agentauthz token sign: $(cat "$tmp/err")"
    fi

    # The library's verification is real: one changed claim, or another
    # engine's JWK Set, and it refuses.
    refused_by_lib "a3 a token with one payload character changed is refused" \
        "$tmp/jwks.json" "$(tamper "$full")"
    refused_by_lib "a4 a token checked against another engine's JWK Set is refused" \
        "$tmp/other.json" "$full"

    # (b) and (c): tokens the JWT library signs, checked by agentauthz.
    if ! prog sign "$tmp/keys" "$tmp/jwks.json" "$AUDIENCE" >"$tmp/cases" 2>"$tmp/err"; then
        fail "the library could not sign its tokens" "$(cat "$tmp/err")"
    fi
    # Each with the JWK Set, and with the bare public key (whose kid the
    # verifier derives).
    for c in $CASES; do
        token=$(sed -n "s/^$c //p" "$tmp/cases")
        check_case "$c" "$token" --jwks "$tmp/jwks.json"
        check_case "$c" "$token" --pubkey "$pubkey"
    done

    echo "# $lib: cases $(elapsed "$start_cases") s, in all $(elapsed "$start_all") s"
    echo "$lib: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# tamper TOKEN: the token with the first payload character changed.
tamper() {
    printf '%s\n' "$1" | awk -F. 'BEGIN { OFS = "." } {
        c = substr($2, 1, 1); $2 = (c == "e" ? "f" : "e") substr($2, 2); print }'
}

# refused_by_lib NAME JWKS TOKEN: the JWT library refuses the token.
refused_by_lib() {
    name=$1 jwks=$2 token=$3
    if [ -z "$full" ]; then
        fail "$name" "no token (a1 failed)"
        return
    fi
    prog verify "$jwks" "$AUDIENCE" "$token" >"$tmp/out" 2>&1
    status=$?
    if [ "$status" -eq 3 ]; then
        ok "$name"
    else
        fail "$name" "exit status $status, expected 3 (refused): $(head -c 400 "$tmp/out")"
    fi
}

# check_case CASE TOKEN KEYOPTION...: 'agentauthz token verify' decides as
# expect() says.
check_case() {
    c=$1 token=$2
    shift 2
    verdict=$(expect "$c")
    want=${verdict%% *}
    pattern=${verdict#* }
    name="$(describe "$c") (token verify $1)"
    if [ -z "$token" ]; then
        fail "$name" "the library printed no token for this case"
        return
    fi
    "$bin" token verify "$@" --audience "$AUDIENCE" "$token" >"$tmp/out" 2>"$tmp/err"
    status=$?
    if [ "$status" -ne "$want" ]; then
        fail "$name" "exit status $status, expected $want" "stdout: $(head -c 400 "$tmp/out")" \
            "stderr: $(head -c 400 "$tmp/err")"
        return
    fi
    if [ "$want" -eq 0 ]; then
        sub=$(json_string "$tmp/out" sub)
        scope=$(json_string "$tmp/out" scope)
        iss=$(json_string "$tmp/out" iss)
        if [ "$sub" != "spiffe://example.org/interop/$lib" ] || [ "$scope" != "$TASK" ] ||
           [ "$iss" != "interop-$lib" ]; then
            fail "$name" "the claims printed are not those signed: $(cat "$tmp/out")"
            return
        fi
        if [ "$c" = good-tctx ]; then
            for member in '"parent":"interop-parent-1"' '"ticket":"T-42"' '"priority":2'; do
                if ! grep -Fq "$member" "$tmp/out"; then
                    fail "$name" "no $member in tctx: $(cat "$tmp/out")"
                    return
                fi
            done
        fi
    elif ! grep -Eqx "$pattern" "$tmp/err"; then
        fail "$name" "stderr has no line /$pattern/: $(head -c 400 "$tmp/err")"
        return
    fi
    ok "$name"
}

#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_token (tests/fuzz/corpus/token) and the
format-dependent seeds of fuzz_check_token, for the JWT task token format
(include/agentauthz/secrets.h).

Tokens are signed with the harnesses' fixed key (the all-zero Ed25519 seed)
so that they verify in the harness. Needs the 'cryptography' package; run it
by hand when the token format changes, from the top of the source tree:

    python3 tests/fuzz/gen_token_seeds.py

fuzz_token tries each input as a whole token, as a payload it signs under the
library's header, and (when it holds a newline) as HEADER "\\n" PAYLOAD that it
signs: the seeds cover the three.
"""
import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY = Ed25519PrivateKey.from_private_bytes(bytes(32))
X = base64.urlsafe_b64encode(KEY.public_key().public_bytes_raw()).rstrip(b"=").decode()
KID = base64.urlsafe_b64encode(hashlib.sha256(
    ('{"crv":"Ed25519","kty":"OKP","x":"%s"}' % X).encode()).digest()).rstrip(b"=").decode()
NOW = 1700000000
GOOD_HEADER = '{"alg":"EdDSA","typ":"txntoken+jwt","kid":"%s"}' % KID


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def jws(header, payload):
    signing = b64(header.encode()) + b"." + b64(payload.encode())
    return signing + b"." + b64(KEY.sign(signing))


def payload(**over):
    claims = {"iss": "orchestrator", "sub": "spiffe://corp.example/agents/support/7",
              "aud": "https://api.corp.example", "iat": NOW - 10, "exp": NOW + 600,
              "txn": "0123456789abcdef0123456789abcdef", "scope": "triage",
              "tctx": {"tools": ["read_file", "github.*"]}}
    for k, v in over.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return json.dumps(claims, separators=(",", ":"))


PAYLOADS = {
    "payload-good": payload(),
    "payload-no-iss": payload(iss=None),
    "payload-parent-params": payload(tctx={"tools": ["*"], "parent": "p-0001",
                                           "params": {"ticket": "T-1", "n": 2, "tags": ["a"]}}),
    "payload-spaces": " { \"sub\" : \"a\", \"aud\":\"x\",\"iat\":1,\"exp\":2e9,\"txn\":\"s\","
                      "\"scope\":\"t\", \"tctx\" : { \"tools\" : [ ] } } ",
    "payload-dup-sub": payload()[:-1] + ',"sub":"root"}',
    "payload-dup-tools": payload(tctx=None)[:-1] + ',"tctx":{"tools":[],"tools":["*"]}}',
    "payload-extra-claim": payload(nbf=NOW),
    "payload-aud-list": payload(aud=["a", "b"]),
    "payload-deep-params": payload(tctx={"tools": [], "params": {"p": []}}).replace(
        "[]}}}", "[" * 70 + "]" * 70 + "}}}"),
    "payload-old-format": '{"v":1,"sub":"a","task":"t","sid":"s","aud":"x","iat":1,"exp":2,'
                          '"tools":[],"parent":null}',
    "payload-float-time": payload(iat=1.5),
    "payload-params-list": payload(tctx={"tools": [], "params": [1]}),
}

HEADERS = {
    "good": GOOD_HEADER,
    "reordered": '{"kid":"%s","alg":"EdDSA","typ":"application/TxnToken+JWT"}' % KID,
    "alg-none": '{"alg":"none","typ":"txntoken+jwt","kid":"%s"}' % KID,
    "alg-hs256": '{"alg":"HS256","typ":"txntoken+jwt","kid":"%s"}' % KID,
    "alg-lower": '{"alg":"eddsa","typ":"txntoken+jwt","kid":"%s"}' % KID,
    "alg-missing": '{"typ":"txntoken+jwt","kid":"%s"}' % KID,
    "typ-jwt": '{"alg":"EdDSA","typ":"JWT","kid":"%s"}' % KID,
    "typ-missing": '{"alg":"EdDSA","kid":"%s"}' % KID,
    "kid-missing": '{"alg":"EdDSA","typ":"txntoken+jwt"}',
    "kid-other": '{"alg":"EdDSA","typ":"txntoken+jwt","kid":"%s"}' % (KID[:-1] + "A"),
    "crit": '{"alg":"EdDSA","typ":"txntoken+jwt","kid":"%s","crit":["exp"]}' % KID,
    "jku": '{"alg":"EdDSA","typ":"txntoken+jwt","kid":"%s","jku":"https://x/"}' % KID,
    "dup-alg": '{"alg":"EdDSA","typ":"txntoken+jwt","kid":"%s","alg":"none"}' % KID,
    "deep": '{"alg":"EdDSA","typ":"txntoken+jwt","kid":"%s","d":%s}' % (KID, "[" * 70 + "]" * 70),
    "big": '{"alg":"EdDSA","typ":"txntoken+jwt","kid":"%s","x":"%s"}' % (KID, "0" * 1100),
    "not-object": '["EdDSA"]',
}


def write(path, data):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    out = "tests/fuzz/corpus/token"
    os.makedirs(out, exist_ok=True)
    for name, p in PAYLOADS.items():
        write(os.path.join(out, name), p)  # signed by the harness under the good header
        write(os.path.join(out, "token-" + name), jws(GOOD_HEADER, p))
    for name, h in HEADERS.items():
        write(os.path.join(out, "header-" + name), h + "\n" + payload())
        write(os.path.join(out, "token-header-" + name), jws(h, payload()))
    good = jws(GOOD_HEADER, payload())
    write(os.path.join(out, "token-unsigned"), good.rsplit(b".", 1)[0] + b".")
    write(os.path.join(out, "token-jwe"), good + b".AAAA.AAAA")
    write(os.path.join(out, "token-bad-sig"), good[:-5] + b"AAAAA")
    write(os.path.join(out, "token-padded"), good.replace(b".", b"=.", 1))
    write(os.path.join(out, "token-oversized"), good + b"A" * 8200)
    # fuzz_check_token: one action byte, then a token or a payload it signs.
    ct = "tests/fuzz/corpus/check_token"
    for i, (name, p) in enumerate([("jwt-triage", payload()),
                                   ("jwt-admin", payload(sub="spiffe://corp.example/admin",
                                                         scope="admin",
                                                         tctx={"tools": ["*"]})),
                                   ("jwt-parent", payload(tctx={"tools": ["github.*"],
                                                                "parent": "p1"}))]):
        write(os.path.join(ct, name), bytes([i * 9 + 1]) + p.encode())
        write(os.path.join(ct, name + "-token"), bytes([i * 9 + 1]) + jws(GOOD_HEADER, p))
    write(os.path.join(ct, "jwt-alg-none"),
          b"\x01" + jws(HEADERS["alg-none"], payload()).rsplit(b".", 1)[0] + b".")


if __name__ == "__main__":
    main()

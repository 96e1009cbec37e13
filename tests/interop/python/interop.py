"""The PyJWT side of the interop tests (tests/interop/interop-pyjwt.sh).

    python interop.py verify JWKS AUDIENCE TOKEN
        Verifies TOKEN with PyJWT and the JWK Set in the file JWKS only
        (EdDSA, typ txntoken+jwt, AUDIENCE, exp), and prints its header and
        claims one per line (see common.sh). A refused token prints
        "refused: MESSAGE" and exits 3.
    python interop.py sign KEYFILE JWKS AUDIENCE
        Prints "CASE TOKEN" lines: tokens PyJWT signs, some with the engine's
        own key (from the key file's "sign:" seed), some with other keys,
        algorithms or headers. common.sh says what the verifier must do.
"""

import base64
import hashlib
import json
import secrets
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

LIB = "pyjwt"
REFUSED = 3
TYPES = ("txntoken+jwt", "application/txntoken+jwt")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(x: str) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, no whitespace."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"),
                           sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def sorted_json(obj) -> str:
    """Compact JSON with the object's members sorted, or "-"."""
    if obj is None:
        return "-"
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def verify(jwks_file: str, audience: str, token: str) -> int:
    with open(jwks_file, encoding="utf-8") as f:
        jwks_dict = json.load(f)
    jwks = jwt.PyJWKSet.from_dict(jwks_dict)
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = next((k for k in jwks.keys if kid is not None and k.key_id == kid), None)
        if key is None:
            raise jwt.InvalidTokenError("the header has no kid of the JWK Set")
        decoded = jwt.api_jwt.decode_complete(
            token, key=key, algorithms=["EdDSA"], audience=audience,
            options={"require": ["iat", "exp", "sub", "txn", "scope"]})
        # PyJWT leaves typ to the caller.
        if decoded["header"].get("typ") not in TYPES:
            raise jwt.InvalidTokenError(f"typ {decoded['header'].get('typ')!r}")
    except jwt.PyJWTError as e:
        print(f"refused: {type(e).__name__}: {e}")
        return REFUSED
    h, c = decoded["header"], decoded["payload"]
    aud = c["aud"]
    out = [
        ("alg", h["alg"]),
        ("typ", h["typ"]),
        ("kid", h["kid"]),
        ("thumbprint", thumbprint(next(k["x"] for k in jwks_dict["keys"] if k.get("kid") == kid))),
        ("iss", c.get("iss", "-")),
        ("sub", c["sub"]),
        ("aud", ",".join(aud) if isinstance(aud, list) else aud),
        ("scope", c["scope"]),
        ("txn", c["txn"]),
        ("iat", c["iat"]),
        ("exp", c["exp"]),
        ("tools", ",".join(c.get("tctx", {}).get("tools", []))),
        ("parent", c.get("tctx", {}).get("parent", "-")),
        ("params", sorted_json(c.get("tctx", {}).get("params"))),
    ]
    for k, v in out:
        print(f"{k} {v}")
    return 0


def engine_key(key_file: str) -> ed25519.Ed25519PrivateKey:
    """The engine's signing key, from the key file's 32-byte seed."""
    with open(key_file, encoding="ascii") as f:
        for line in f:
            if line.startswith("sign: "):
                return ed25519.Ed25519PrivateKey.from_private_bytes(
                    b64url_decode(line[6:].strip()))
    raise SystemExit(f'{key_file}: no "sign:" line')


def raw_public(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(key_file: str, jwks_file: str, audience: str) -> int:
    with open(jwks_file, encoding="utf-8") as f:
        jwks = json.load(f)
    priv = engine_key(key_file)
    pub = raw_public(priv)
    x = b64url(pub)
    published = [k for k in jwks["keys"] if k.get("x") == x]
    if not published:
        raise SystemExit("the key file's public key is not in the JWK Set")
    kid = thumbprint(x)
    if published[0].get("kid") != kid:
        raise SystemExit(f"the JWK Set's kid {published[0].get('kid')} is not the thumbprint {kid}")

    now = int(time.time())

    def claims(**over):
        c = {
            "iss": f"interop-{LIB}",
            "sub": f"spiffe://example.org/interop/{LIB}",
            "aud": audience,
            "iat": now,
            "exp": now + 300,
            "txn": f"interop-{LIB}-{secrets.token_hex(6)}",
            "scope": "triage-ticket",
            "tctx": {"tools": ["read_ticket", "search_kb"]},
        }
        c.update(over)
        return c

    def header(**over):
        h = {"typ": "txntoken+jwt", "kid": kid}
        h.update(over)
        return h

    def tok(alg, key, hdr=None, c=None):
        # PyJWT writes typ "JWT" unless the headers give another (None: none).
        return jwt.encode(c or claims(), key, algorithm=alg,
                          headers=header() if hdr is None else hdr)

    def part(obj):
        return b64url(json.dumps(obj, separators=(",", ":")).encode())

    def unsigned(hdr, c):
        return f"{part(hdr)}.{part(c)}."

    def by_hand(hdr, payload_text):
        # For JSON no JWT library writes: signed over the exact text.
        signing_input = f"{part(hdr)}.{b64url(payload_text.encode())}"
        return f"{signing_input}.{b64url(priv.sign(signing_input.encode('ascii')))}"

    foreign = ed25519.Ed25519PrivateKey.generate()
    es256 = ec.generate_private_key(ec.SECP256R1())
    rs256 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = [
        ("good", tok("EdDSA", priv)),
        ("good-tctx", tok("EdDSA", priv, c=claims(tctx={
            "tools": ["read_ticket"], "parent": "interop-parent-1",
            "params": {"ticket": "T-42", "priority": 2}}))),
        ("good-mediatype", tok("EdDSA", priv, header(typ="application/txntoken+jwt"))),
        ("foreign-key", tok("EdDSA", foreign)),
        ("foreign-kid", tok("EdDSA", foreign, header(kid=thumbprint(b64url(raw_public(foreign)))))),
        ("hs256-pubkey", tok("HS256", pub)),
        ("es256", tok("ES256", es256)),
        ("rs256", tok("RS256", rs256)),
        ("alg-none", unsigned({"alg": "none", "typ": "txntoken+jwt", "kid": kid}, claims())),
        ("typ-jwt", tok("EdDSA", priv, header(typ="JWT"))),
        ("no-typ", tok("EdDSA", priv, {"typ": None, "kid": kid})),
        ("no-kid", tok("EdDSA", priv, {"typ": "txntoken+jwt"})),
        ("crit", tok("EdDSA", priv, header(crit=["urn:example:must"],
                                           **{"urn:example:must": True}))),
        # Two "sub": a JWT library reads the last, which must not be trusted.
        ("dup-sub", by_hand(header(alg="EdDSA"), json.dumps(claims(), separators=(",", ":"))[:-1]
                            + ',"sub":"spiffe://example.org/interop/admin"}')),
        ("oversized", tok("EdDSA", priv, c=claims(tctx={
            "tools": [f"tool_{i}_" + "x" * 50 for i in range(200)]}))),
        ("expired", tok("EdDSA", priv, c=claims(iat=now - 900, exp=now - 600))),
        ("wrong-aud", tok("EdDSA", priv, c=claims(aud=audience + ".evil"))),
    ]
    for name, token in cases:
        print(name, token)
    return 0


def main(argv):
    if len(argv) == 5 and argv[1] == "verify":
        return verify(*argv[2:])
    if len(argv) == 5 and argv[1] == "sign":
        return sign(*argv[2:])
    print("usage: interop.py verify JWKS AUDIENCE TOKEN | sign KEYFILE JWKS AUDIENCE",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

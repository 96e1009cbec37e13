"""Keys and task tokens (JWTs): generation, key files, signing, verification, JWK Sets,
verifiers."""

import base64
import json
import os
import time

import pytest

import agentauthz as az


@pytest.fixture
def keys():
    with az.Keys.generate() as k:
        yield k


def sign(keys, **kw):
    now = int(time.time())
    claims = dict(identity="agent/1", task="work", session="s" * 32, audience="aud",
                  iat=now, exp=now + 600, tools=["http.get", "db.*"])
    claims.update(kw)
    return keys.sign_token(**claims)


def test_generate_and_public(keys):
    text = keys.public_text
    assert text.startswith("azpk1.") and len(text) == 49
    assert len(keys.public_key) == 32
    assert repr(keys) == "<agentauthz.Keys public=%s>" % text
    assert az.Keys.generate().public_text != text


def test_key_file_round_trip(tmp_path, keys):
    path = tmp_path / "engine.keys"
    keys.save_file(path)
    assert (os.stat(path).st_mode & 0o777) == 0o600
    with pytest.raises(az.FileError):
        keys.save_file(path)  # never replaces a file
    loaded = az.Keys.load_file(str(path))
    assert loaded.public_text == keys.public_text
    loaded2 = az.Keys.load(path.read_bytes())
    assert loaded2.public_key == keys.public_key
    loaded.close()
    loaded2.close()
    os.chmod(path, 0o644)
    with pytest.raises(az.FileError) as exc:
        az.Keys.load_file(path)
    assert exc.value.code == -19 and str(path) in str(exc.value)
    with pytest.raises(az.FileError):
        az.Keys.load_file(tmp_path / "missing")


@pytest.mark.parametrize("text", [b"", b"agentauthz-keys v1\n", b"\0" * 200, "x" * 5000,
                                  b"agentauthz-keys v2\nsign: a\nmaster: b\naudit: c\n"])
def test_malformed_key_text(text):
    with pytest.raises((az.CryptoError, az.LimitError)):
        az.Keys.load(text)


def test_closed_keys_are_misuse(keys):
    keys.close()
    keys.close()
    with pytest.raises(az.InvalidArgumentError):
        keys.public_text
    assert "closed" in repr(keys)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_sign_and_verify(keys):
    token = sign(keys, issuer="me", parent="p" * 32, params={"ticket": "T-1", "n": 2})
    header, payload, sig = token.split(".")
    assert json.loads(unb64url(header)) == {"alg": "EdDSA", "typ": "txntoken+jwt",
                                            "kid": keys.kid}
    body = json.loads(unb64url(payload))
    assert (body["sub"], body["scope"], body["txn"], body["aud"]) == ("agent/1", "work",
                                                                      "s" * 32, "aud")
    assert body["tctx"] == {"tools": ["http.get", "db.*"], "parent": "p" * 32,
                            "params": {"ticket": "T-1", "n": 2}}
    assert len(unb64url(sig)) == 64
    claims = az.verify_token(keys.public_text, token, audience="aud")
    assert claims["identity"] == "agent/1" and claims["task"] == "work"
    assert claims["issuer"] == "me" and claims["parent"] == "p" * 32
    assert claims["tools"] == ["http.get", "db.*"]
    assert claims["params"] == {"ticket": "T-1", "n": 2}
    assert claims["exp"] - claims["iat"] == 600
    assert az.verify_token(keys, sign(keys))["params"] is None
    assert az.verify_token(keys, token)["audience"] == "aud"
    assert az.verify_token(keys.public_key, token.encode())["session"] == "s" * 32


def test_verify_failures(keys):
    token = sign(keys)
    other = az.Keys.generate()
    with pytest.raises(az.KeyIdError):
        az.verify_token(other.public_text, token)
    with pytest.raises(az.AudienceError):
        az.verify_token(keys, token, audience="elsewhere")
    old = sign(keys, iat=1000, exp=2000)
    with pytest.raises(az.ExpiredError):
        az.verify_token(keys, old)
    assert az.verify_token(keys, old, now=1500)["exp"] == 2000
    with pytest.raises(az.ExpiredError):
        az.verify_token(keys, old, now=2061, skew=60)
    assert az.verify_token(keys, old, now=2059, skew=60)
    for bad in ["", "a.b.", token[:-3], token + "x", token.replace(".", "..", 1)]:
        with pytest.raises(az.TokenError):
            az.verify_token(keys, bad)
    with pytest.raises(az.LimitError):
        az.verify_token(keys, "x" * 9000)
    with pytest.raises(az.CryptoError):
        az.verify_token("azpk1.bad", token)
    with pytest.raises(az.CryptoError):
        az.verify_token(b"short", token)
    with pytest.raises(ValueError):
        az.verify_token(keys, token, skew=10**6)
    with pytest.raises(az.InvalidArgumentError):
        sign(keys, iat=10, exp=5)
    other.close()


def test_verifier_cache_and_revocation(keys):
    token = sign(keys)
    with az.Verifier(keys.public_text, audience="aud", cache_entries=16) as v:
        assert v.verify(token)["task"] == "work"
        assert v.verify(token)["task"] == "work"  # cached
        v.revoke("s" * 32)
        with pytest.raises(az.SessionEndedError):
            v.verify(token)
    with pytest.raises(az.InvalidArgumentError):
        v.verify(token)
    with az.Verifier(keys, audience="other") as v2:
        with pytest.raises(az.AudienceError):
            v2.verify(token)


def test_engine_check_token(policy):
    from conftest import POLICY

    keys = az.Keys.generate()
    upstream = policy(POLICY, keys=keys)
    downstream = policy(POLICY)
    with upstream.session("agent/1", "work") as s:
        d = s.check("http.get")
        with s.lease(d, "tok") as v:
            token = bytes(v).decode()
        with az.Verifier(upstream.public_key_text, audience="https://api.example") as ver:
            d = downstream.check_token(ver, token, "db.query")
            assert (d.effect, d.rule) == ("allow", "db")
            assert not downstream.check_token(ver, token, "db.query", args={"sql": "DROP x"})
            d = downstream.check_token(ver, token, "not-in-token")
            assert (d.effect, d.rule) == ("deny", "session")
            ver.revoke(s.id)
            with pytest.raises(az.SessionEndedError):
                downstream.check_token(ver, token, "db.query")
            with pytest.raises(az.TokenError):
                downstream.check_token(ver, "garbage", "db.query")
    keys.close()


def _forged(keys, header, payload=None):
    """A token of this header over a good payload, signed by keys' signing key."""
    good = sign(keys)
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = good.split(".")[1] if payload is None else b64url(payload.encode())
    # Re-signed by the library: only the header differs from a good token.
    return h + "." + p + "." + good.split(".")[2]


def test_refused_headers(keys):
    kid = keys.kid
    with pytest.raises(az.AlgorithmError, match="none"):
        az.verify_token(keys, _forged(keys, {"alg": "none", "typ": "txntoken+jwt", "kid": kid}))
    with pytest.raises(az.AlgorithmError, match="not EdDSA"):
        az.verify_token(keys, _forged(keys, {"alg": "HS256", "typ": "txntoken+jwt", "kid": kid}))
    with pytest.raises(az.KeyIdError):
        az.verify_token(keys, _forged(keys, {"alg": "EdDSA", "typ": "txntoken+jwt"}))
    with pytest.raises(az.TokenTypeError):
        az.verify_token(keys, _forged(keys, {"alg": "EdDSA", "typ": "JWT", "kid": kid}))
    # The near miss: the library's own header, re-encoded, reaches the signature check.
    with pytest.raises(az.SignatureError):
        az.verify_token(keys, _forged(keys, {"kid": kid, "alg": "EdDSA", "typ": "txntoken+jwt"}))


def test_jwks(keys):
    text = keys.jwks
    jwk = json.loads(text)["keys"][0]
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": b64url(keys.public_key), "kid": keys.kid,
                   "alg": "EdDSA", "use": "sig"}
    assert az.jwks(keys.public_text) == text and az.key_id(keys.public_key) == keys.kid
    token = sign(keys)
    with az.Verifier(jwks=text, audience="aud") as v:
        assert v.verify(token)["identity"] == "agent/1"
    other = az.Keys.generate()
    both = {"keys": [jwk, json.loads(other.jwks)["keys"][0]]}
    with az.Verifier(jwks=both) as v:
        assert v.verify(sign(other))["task"] == "work"
        assert v.verify(token)["task"] == "work"
    with az.Verifier(jwks=other.jwks) as v:
        with pytest.raises(az.KeyIdError):
            v.verify(token)
    with pytest.raises(az.CryptoError):
        az.Verifier(jwks={"keys": [dict(jwk, d=jwk["x"])]})
    with pytest.raises(TypeError):
        az.Verifier()
    other.close()


def test_engine_jwks(policy):
    from conftest import POLICY

    keys = az.Keys.generate()
    engine = policy(POLICY, keys=keys)
    assert engine.jwks == keys.jwks
    keys.close()

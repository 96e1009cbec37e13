"""The audit log through the binding: a file and a callback, verification, tampering."""

import json

import pytest

import agentauthz as az
from conftest import POLICY


def test_audit_file_and_callback(policy, tmp_path):
    keys = az.Keys.generate()
    lines = []
    log = tmp_path / "audit.jsonl"
    e = policy(POLICY, keys=keys)
    e.set_audit(path=log, callback=lines.append)
    with e.session("agent/1", "work") as s:
        d = s.check("db.query")
        with s.lease(d, "db") as v:
            secret = bytes(v)
        s.check("read_file", resource="/kb/.env")
    e.set_audit()  # stops and flushes the log
    assert lines and all(isinstance(x, bytes) and x.endswith(b"\n") for x in lines)
    records = [json.loads(x) for x in lines]
    assert len(records) >= 4
    text = log.read_bytes()
    assert text == b"".join(lines)
    assert secret not in text and secret.hex().encode() not in text
    report = az.audit_verify(keys, log)
    assert report.intact and report.records == len(lines)
    # edit one record: verification names the file and line
    broken = lines[:]
    at = next(i for i, x in enumerate(lines) if b"db.query" in x)
    broken[at] = broken[at].replace(b"db.query", b"db.qu3ry")
    log.write_bytes(b"".join(broken))
    with pytest.raises(az.TamperError) as exc:
        az.audit_verify(keys, log)
    assert exc.value.report.problem == "mac"
    assert exc.value.report.line == at + 1
    with pytest.raises(az.FileError):
        az.audit_verify(keys, tmp_path / "missing.jsonl")
    with pytest.raises(TypeError):
        az.audit_verify("keys", log)
    keys.close()


def test_audit_verify_what_the_verifier_knows(policy, tmp_path):
    keys = az.Keys.generate()
    other = az.Keys.generate()
    log = tmp_path / "audit.jsonl"
    e = policy(POLICY, keys=keys)
    e.set_audit(path=log, checkpoint_every=2)
    with e.session("agent/1", "work") as s:
        for _ in range(5):
            s.check("db.query")
    e.set_audit()
    report = az.audit_verify(keys, log)
    assert report.schema == 2 and len(report.log_id) == 32
    assert report.signed_seq == report.last_seq
    last = report.last_seq
    assert az.audit_verify(keys, log, expect_last=last).intact
    # the public key alone, as text or as Keys
    assert az.audit_verify(None, log, pubkey=keys.public_text).signed_seq == last
    assert az.audit_verify(None, log, pubkey=keys).intact
    with pytest.raises(az.TamperError) as exc:
        az.audit_verify(None, log, pubkey=other.public_text)
    assert exc.value.report.problem == "engine"
    # cut at a record boundary: only expect_last sees it
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-1]))
    assert az.audit_verify(keys, log).last_seq == last - 1
    with pytest.raises(az.TamperError) as exc:
        az.audit_verify(keys, log, expect_last=last)
    assert exc.value.report.problem == "end"
    with pytest.raises(az.TamperError) as exc:
        az.audit_verify(keys, log, engine="someone")
    assert exc.value.report.problem == "engine"
    log.write_bytes(b"")
    with pytest.raises(az.TamperError) as exc:
        az.audit_verify(keys, log)
    assert exc.value.report.problem == "empty"
    with pytest.raises(TypeError):
        az.audit_verify(None, log)
    keys.close()
    other.close()


def test_audit_callback_exceptions_deny_the_check(policy):
    down = [False]
    taken = []

    def sink(line):
        if down[0]:
            raise RuntimeError("sink down")
        taken.append(line)

    e = policy(POLICY)
    e.set_audit(callback=sink)
    with e.session("agent/1", "work") as s:
        assert s.check("db.query")
        down[0] = True
        d = s.check("db.query")  # the exception does not escape: the check is denied
        assert not d
        assert d.reason == "the audit record could not be written"
        down[0] = False
        assert s.check("db.query")  # a refusal is not sticky
    assert all(line.endswith(b"\n") for line in taken)

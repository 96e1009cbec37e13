"""Engines: loading, atomic reloads, policy errors, info, lifetime, library lookup."""

import os

import pytest

import agentauthz as az
from conftest import POLICY

GOOD = "agentauthz: 1\nname: one\ntasks: {t: {}}\nrules:\n  - {id: a, effect: allow, tools: [x]}\n"
OTHER = "agentauthz: 1\nname: two\ntasks: {t: {}}\nrules:\n  - {id: b, effect: deny, tools: [x]}\n"
BAD = "agentauthz: 1\nrules:\n  - {id: a, effect: allow}\nbogus: 1\n"


def test_load_string_and_info():
    with az.Engine() as e:
        assert e.load_string(GOOD) == []
        info = e.policy_info()
        assert info["name"] == "one"
        assert info["rules"] == 1 and info["tasks"] == 1
        assert info["generation"] == 1
        assert len(info["hash"]) == 64
        assert "one" in repr(e)


def test_no_policy():
    with az.Engine() as e:
        with pytest.raises(az.NoPolicyError) as exc:
            e.session("a", "t")
        assert exc.value.code == -5
        with pytest.raises(az.NoPolicyError):
            e.policy_info()
        assert "no policy" in repr(e)


def test_policy_error_carries_location_and_every_error():
    with az.Engine() as e:
        with pytest.raises(az.PolicyError) as exc:
            e.load_string(BAD, "bad.yaml")
        err = exc.value
        assert err.code == az._lib.EPOLICY
        assert err.file == "bad.yaml"
        assert (err.line, err.column) == (4, 1)
        assert "bogus" in err.message
        assert str(err).startswith("bad.yaml:4:1: ")
        assert len(err.errors) >= 2
        assert all(isinstance(d, az.Diagnostic) and not d.warning for d in err.errors)
        assert any("tools" in d.message for d in err.errors)
        assert all(d.line > 0 and d.file == "bad.yaml" for d in err.errors)


def test_yaml_syntax_error_has_position():
    with az.Engine() as e:
        with pytest.raises(az.PolicyError) as exc:
            e.load_string("agentauthz: 1\nrules: [\n", "syntax.yaml")
        assert exc.value.file == "syntax.yaml"
        assert exc.value.line >= 2


def test_reload_is_atomic(fake_clock):
    with az.Engine(clock=fake_clock) as e:
        e.load_string(GOOD)
        with e.session("a", "t") as s:
            assert s.check("x").rule == "a"
            with pytest.raises(az.PolicyError):
                e.load_string(BAD)
            # the failed load changed nothing
            assert e.policy_info()["generation"] == 1
            assert s.check("x").rule == "a"
            e.load_string(OTHER)
            assert e.policy_info()["generation"] == 2
            d = s.check("x")  # the open session sees the new policy
            assert d.effect == "deny" and d.rule == "b"


def test_reload_drops_task():
    with az.Engine() as e:
        e.load_string(GOOD)
        s = e.session("a", "t")
        e.load_string("agentauthz: 1\ntasks: {u: {}}\nrules:\n  - {id: a, effect: allow, tools: [x]}\n")
        d = s.check("x")
        assert (d.effect, d.rule) == ("deny", "session")
        s.close()


def test_load_files_and_directories(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    d = tmp_path / "dir"
    d.mkdir()
    (d / "p.yaml").write_text(POLICY)
    with az.Engine() as e:
        e.load(str(tmp_path / "a.yaml"))
        assert e.policy_info()["name"] == "one"
        e.load(d)  # path-like objects work too
        assert e.policy_info()["name"] == "binding-tests"
        with pytest.raises(az.PolicyError) as exc:
            (tmp_path / "bad.yaml").write_text(BAD)
            e.load(tmp_path / "bad.yaml")
        assert exc.value.file.endswith("bad.yaml")
        assert e.policy_info()["name"] == "binding-tests"


def test_load_missing_file(tmp_path):
    with az.Engine() as e:
        with pytest.raises(az.AgentAuthzError) as exc:
            e.load(tmp_path / "nope.yaml")
        assert "nope.yaml" in str(exc.value)
        with pytest.raises(ValueError):
            e.load()


def test_warnings_are_returned():
    text = ("agentauthz: 1\ntasks: {t: {}}\nrules:\n"
            "  - {id: all, effect: deny, tools: ['*']}\n"
            "  - {id: shadowed, effect: allow, tools: [x]}\n")
    with az.Engine() as e:
        warnings = e.load_string(text, "w.yaml")
        assert warnings, "a fully shadowed rule should warn"
        assert all(w.warning for w in warnings)
        assert "warning" in str(warnings[0])


def test_hostile_policy_texts():
    with az.Engine() as e:
        for text in ["", "\0", "agentauthz: 1\nrules: " + "[" * 200 + "]" * 200,
                     "a: &x 1\nb: *x\n", "\xff\xfe", "agentauthz: 1\nagentauthz: 1\nrules: []\n"]:
            with pytest.raises(az.PolicyError):
                e.load_string(text)
        with pytest.raises(ValueError):
            e.load_string(GOOD, name="a\0b")


def test_closed_engine_is_misuse():
    e = az.Engine()
    e.load_string(GOOD)
    s = e.session("a", "t")
    e.close()
    e.close()  # idempotent
    assert s.closed  # the engine closed its sessions first
    assert s.check("x").rule == "session"
    with pytest.raises(az.InvalidArgumentError):
        e.load_string(GOOD)
    with pytest.raises(az.InvalidArgumentError):
        e.session("a", "t")
    assert "closed" in repr(e)


def test_sweep_expires_sessions(fake_clock):
    with az.Engine(clock=fake_clock) as e:
        e.load_string(GOOD)
        s = e.session("a", "t", ttl=10)
        assert e.sweep() == 0
        fake_clock.advance(11)
        assert e.sweep() == 1
        assert s.check("x").reason == "session expired"
        s.close()


def test_clock_that_raises_fails_closed():
    def broken():
        raise RuntimeError("no time")

    with az.Engine(clock=broken) as e:
        e.load_string(GOOD)
        with e.session("a", "t") as s:
            d = s.check("x")
            assert (d.effect, d.rule) == ("deny", "session")

    state = {"fail": False}

    def flaky():
        if state["fail"]:
            raise OverflowError("clock")
        return 5

    with az.Engine(clock=flaky) as e:
        e.load_string(GOOD)
        with e.session("a", "t") as s:
            assert s.check("x")
            state["fail"] = True
            assert not s.check("x")
            state["fail"] = False
            assert not s.check("x")  # a failed clock is not trusted again


def test_public_key():
    keys = az.Keys.generate()
    with az.Engine(keys=keys) as e:
        assert e.public_key == keys.public_key
        assert e.public_key_text == keys.public_text
        assert len(e.public_key_text) == 49
    keys.close()
    with pytest.raises(TypeError):
        az.Engine(keys="not keys")


def test_strerror_and_version():
    assert az.strerror(-4) == az.strerror(az._lib.EPOLICY)
    assert az.strerror(-4)
    assert az.library_version().count(".") == 2

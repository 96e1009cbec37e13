"""The guard decorator."""

import asyncio

import pytest

import agentauthz as az


def test_allowed_call_runs_with_its_arguments(work):
    calls = []

    @az.guard(work)
    def send_email(to, subject="hi"):
        calls.append((to, subject))
        return "sent"

    assert send_email(to=["a@corp.example"]) == "sent"
    assert send_email(["b@corp.example"], "x") == "sent"  # positional arguments are named
    assert calls == [(["a@corp.example"], "hi"), (["b@corp.example"], "x")]
    assert send_email.__name__ == "send_email"


def test_denied_call_does_not_run(work):
    ran = []

    @az.guard(work, tool="send_email")
    def mail(**kwargs):
        ran.append(kwargs)

    with pytest.raises(az.Denied) as exc:
        mail(to=["eve@evil.example"])
    assert not ran
    d = exc.value.decision
    assert (d.effect, d.rule) == ("deny", "default")
    assert exc.value.tool == "send_email"
    assert isinstance(exc.value, az.AgentAuthzError)
    assert "send_email" in str(exc.value) and "default" in str(exc.value)
    mail(to=["ok@corp.example"])
    assert ran == [{"to": ["ok@corp.example"]}]


def test_resource_and_destination_from_arguments(work):
    @az.guard(work, resource="path")
    def read_file(path):
        return path

    assert read_file("/kb/a") == "/kb/a"
    with pytest.raises(az.Denied) as exc:
        read_file(path="/kb/.env")
    assert exc.value.decision.rule == "no-env"

    @az.guard(work, destination=lambda a: a["url"])
    def send(url, data=b""):
        return True

    assert send("https://corp.example/x")
    with pytest.raises(az.Denied):
        send("https://evil.example/x")


def test_ask_is_denied_unless_approved(engine):
    with engine.session("agent/1", "pay", params={"customer": "c", "max": 5000}) as s:
        @az.guard(s)
        def send_money(to, amount):
            return amount

        with pytest.raises(az.Denied) as exc:
            send_money("c", 2000)
        assert exc.value.decision.effect == "ask"

        seen = []

        def human(decision):
            seen.append(decision)
            return decision.action.args["amount"] < 3000

        approving = az.guard(s, tool="send_money", on_ask=human)(lambda to, amount: amount)
        assert approving(to="c", amount=2000) == 2000
        with pytest.raises(az.Denied):
            approving(to="c", amount=4000)
        assert [d.rule for d in seen] == ["big-payment", "big-payment"]


def test_on_ask_must_return_true(engine):
    with engine.session("agent/1", "pay", params={"customer": "c", "max": 5000}) as s:
        f = az.guard(s, tool="send_money", on_ask=lambda d: "yes")(lambda to, amount: 1)
        with pytest.raises(az.Denied):
            f(to="c", amount=2000)


def test_session_provider_and_closed_session(engine):
    current = {}

    @az.guard(lambda: current["s"], tool="read_file", resource="p")
    def read(p):
        return p

    current["s"] = engine.session("agent/1", "work")
    assert read("/kb/x") == "/kb/x"
    current["s"].close()
    with pytest.raises(az.Denied) as exc:
        read("/kb/x")
    assert exc.value.decision.rule == "session"


def test_varargs_and_unserialisable_arguments(work):
    @az.guard(work, tool="db.query")
    def f(*parts, **extra):
        return parts

    assert f("a", "b", mode="r") == ("a", "b")

    @az.guard(work, tool="db.query")
    def g(handle):
        return handle

    with pytest.raises(TypeError):
        g(object())  # arguments that cannot be checked are never run


def test_async_functions(work):
    @az.guard(work, resource="path")
    async def read_file(path):
        return path.upper()

    assert asyncio.run(read_file(path="/kb/a")) == "/KB/A"
    with pytest.raises(az.Denied):
        asyncio.run(read_file(path="/etc/passwd"))


def test_bytes_arguments_are_scanned_for_leaks(work):
    d = work.check("db.query")
    with work.lease(d, "db") as v:
        secret = bytes(v)

    @az.guard(work, destination="url")
    def send(url, data):
        return len(data)

    assert send("https://corp.example/x", b"\xff\x00 harmless") == 11
    with pytest.raises(az.Denied) as exc:
        send("https://corp.example/x", b"prefix" + secret)
    assert exc.value.decision.rule == "leak"

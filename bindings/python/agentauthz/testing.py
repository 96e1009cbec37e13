"""A pytest plugin for unit tests of agent tools against a policy.

Enable it with `pytest_plugins = ["agentauthz.testing"]` in a conftest.py
(or `pytest -p agentauthz.testing`). Fixtures:

  fake_clock  a clock the test moves with fake_clock.advance(seconds)
  policy      policy(yaml_text) -> an Engine on fake_clock with that policy
  session     session(policy_or_engine, identity, task, params=None, ttl=None)
              -> an open Session (closed at the end of the test)

and assertions (plain functions, importable from this module):
assert_allowed(session, tool, **kw), assert_denied(session, tool, rule=None,
**kw) and assert_asks(session, tool, rule=None, **kw), where kw are the
arguments of Session.check (resource, destination, args, labels, payload).
Each returns the Decision.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import pytest

from .engine import Engine
from .session import Action, Decision, Session

__all__ = ["FakeClock", "assert_allowed", "assert_asks", "assert_denied"]

# What the policy and session fixtures give a test.
PolicyFactory = Callable[..., Engine]
SessionFactory = Callable[..., Session]


class FakeClock:
    """A monotonic clock in nanoseconds that only moves when told to."""

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self._ns = int(start_ns)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._ns

    @property
    def now_ns(self) -> int:
        return self()

    def advance(self, seconds: float) -> None:
        """Moves the clock forward; seconds may be fractional, never negative."""
        if seconds < 0:
            raise ValueError("a monotonic clock does not go back")
        with self._lock:
            self._ns += int(seconds * 1_000_000_000)


def _describe(decision: Decision) -> str:
    text = "%s by rule %r" % (decision.effect, decision.rule)
    if decision.reason:
        text += " (%s)" % decision.reason
    return text


def _expect(session: Session, tool: Union[str, Action], effect: str, rule: Optional[str],
            kw: Dict[str, Any]) -> Decision:
    __tracebackhide__ = True
    if not isinstance(session, Session):
        raise TypeError("the first argument must be a Session")
    decision = session.check(tool, **kw)
    if decision.effect != effect:
        pytest.fail("%s: expected %s, got %s" % (tool, effect, _describe(decision)),
                    pytrace=False)
    if rule is not None and decision.rule != rule:
        pytest.fail("%s: expected %s by rule %r, got %s" % (tool, effect, rule,
                                                             _describe(decision)),
                    pytrace=False)
    return decision


def assert_allowed(session: Session, tool: Union[str, Action], rule: Optional[str] = None,
                   **kw: Any) -> Decision:
    """Checks the action and fails the test unless it is allowed (by rule, if given)."""
    __tracebackhide__ = True
    return _expect(session, tool, "allow", rule, kw)


def assert_denied(session: Session, tool: Union[str, Action], rule: Optional[str] = None,
                  **kw: Any) -> Decision:
    """Checks the action and fails the test unless it is denied (by rule, if given)."""
    __tracebackhide__ = True
    return _expect(session, tool, "deny", rule, kw)


def assert_asks(session: Session, tool: Union[str, Action], rule: Optional[str] = None,
                **kw: Any) -> Decision:
    """Checks the action and fails the test unless the policy asks (by rule, if given)."""
    __tracebackhide__ = True
    return _expect(session, tool, "ask", rule, kw)


@pytest.fixture
def fake_clock() -> FakeClock:
    """A FakeClock; the policy fixture's engines run on it."""
    return FakeClock()


@pytest.fixture
def policy(fake_clock: FakeClock) -> Iterator[PolicyFactory]:
    """policy(yaml_text, **engine_options) -> an Engine with that policy loaded."""
    engines: List[Engine] = []

    def make(text: str, name: str = "policy.yaml", **options: Any) -> Engine:
        options.setdefault("clock", fake_clock)
        engine = Engine(**options)
        engines.append(engine)
        engine.load_string(text, name)
        return engine

    yield make
    for engine in reversed(engines):
        engine.close()


@pytest.fixture
def session(policy: PolicyFactory) -> Iterator[SessionFactory]:
    """session(policy_text_or_engine, identity, task, params=None, ttl=None) -> a Session."""
    opened: List[Session] = []

    def make(engine: Union[str, Engine], identity: str, task: str,
             params: Optional[Dict[str, Any]] = None, ttl: Optional[float] = None) -> Session:
        if not isinstance(engine, Engine):
            engine = policy(engine)
        s = engine.session(identity, task, params=params, ttl=ttl)
        opened.append(s)
        return s

    yield make
    for s in reversed(opened):
        s.close()


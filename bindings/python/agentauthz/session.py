"""Sessions, actions, decisions, leases and placeholder substitution."""

from __future__ import annotations

import ctypes
import hmac
import json
import threading
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple,
                    Union, overload)

from . import _lib
from . import _util
from . import errors
from ._util import char_pp, check, cstr, dumps, str_list, ttl_ns, Value

if TYPE_CHECKING:  # engine.py imports this module
    from .engine import Engine

    # A leased or substituted secret: bytes-like (a ctypes array), zeroed on
    # release; its repr and str never show it.
    SecretBytes = ctypes.Array[ctypes.c_ubyte]

# A destination: one (str) or a list of them.
Destination = Union[None, str, bytes, bytearray, Iterable[Union[str, bytes, bytearray]]]
# Labels: one (str) or a list of them.
Labels = Union[None, str, bytes, bytearray, Iterable[Union[str, bytes, bytearray]]]
# A payload scanned for leaked secrets.
Payload = Union[None, str, bytes, bytearray, memoryview]
# A tool call's arguments: a dict of JSON-able values.
Args = Optional[Dict[str, Any]]

_dumps = dumps
_new_action = object.__new__

_L = _lib.lib
_EFFECTS = _lib.EFFECTS
_reset = _L.agentauthz_action_reset
_set_tool = _L.agentauthz_action_set_tool
_set_resource = _L.agentauthz_action_set_resource
_add_destination = _L.agentauthz_action_add_destination
_set_destinations = _L.agentauthz_action_set_destinations
_add_label = _L.agentauthz_action_add_label
_set_payload = _L.agentauthz_action_set_payload
_set_args_json = _L.agentauthz_action_set_args_json
_check = _L.agentauthz_check
_CDecision = _lib.Decision
_byref = ctypes.byref
_SCOPES = {"once": _lib.APPROVE_ONCE, "session": _lib.APPROVE_SESSION}


class Action:
    """What an agent is about to do: a tool call and what it touches.

    Immutable: it holds the encoded form the library is given, so that a
    Decision can refer to exactly the action it decided. destination and
    labels take a str or a list of str; args a dict of JSON-able values;
    payload bytes or str (scanned for leaked secrets).
    """

    __slots__ = ("_tool", "_resource", "_dests", "_labels", "_payload", "_args")

    def __init__(self, tool: Union[str, bytes], resource: Union[None, str, bytes] = None,
                 destination: Destination = None, args: Args = None, labels: Labels = None,
                 payload: Payload = None) -> None:
        self._tool: bytes = cstr(tool, "tool")
        self._resource: Optional[bytes] = None if resource is None else cstr(resource, "resource")
        self._dests: Union[None, bytes, List[bytes]]
        self._labels: Optional[List[bytes]]
        self._payload: Optional[bytes]
        self._args: Optional[bytes]
        # A str is one destination; a list (even of one, or empty) stays a
        # list, so that the policy's each/some see what the caller meant.
        if destination is None or isinstance(destination, (str, bytes, bytearray)):
            self._dests = None if destination is None else cstr(destination, "destination")
        else:
            self._dests = str_list(destination, "destination")
        self._labels = str_list(labels, "label")
        if payload is None or isinstance(payload, bytes):
            self._payload = payload
        elif isinstance(payload, str):
            self._payload = payload.encode("utf-8")
        else:
            self._payload = bytes(payload)
        if args is None:
            self._args = None
        elif isinstance(args, dict):
            self._args = dumps(args).encode("utf-8")
        else:
            raise TypeError("args must be a dict")

    @property
    def tool(self) -> str:
        return self._tool.decode("utf-8")

    @property
    def resource(self) -> Optional[str]:
        return None if self._resource is None else self._resource.decode("utf-8")

    @property
    def destination(self) -> Union[None, str, List[str]]:
        if self._dests is None:
            return None
        if isinstance(self._dests, bytes):
            return self._dests.decode("utf-8")
        return [d.decode("utf-8") for d in self._dests]

    @property
    def labels(self) -> List[str]:
        return [x.decode("utf-8") for x in self._labels or ()]

    @property
    def args(self) -> Args:
        """A fresh copy of the arguments (None when the action has none)."""
        return None if self._args is None else json.loads(self._args.decode("utf-8"))

    def _fill(self, a: Any, err: Optional[_lib.Error]) -> int:
        """Writes the action into the C action a (already empty); returns a code."""
        rc: int = _set_tool(a, self._tool)
        if rc == 0 and self._resource is not None:
            rc = _set_resource(a, self._resource)
        dests = self._dests
        if dests.__class__ is bytes:
            rc = rc or _add_destination(a, dests)
        elif dests is not None:
            rc = rc or _set_destinations(a, None, 0)
            for d in dests:
                rc = rc or _add_destination(a, d)
        for x in self._labels or ():
            rc = rc or _add_label(a, x)
        if rc == 0 and self._payload is not None:
            rc = _set_payload(a, self._payload, len(self._payload))
        if rc == 0 and self._args is not None:
            rc = _set_args_json(a, self._args, len(self._args), err)
        return rc

    def __repr__(self) -> str:
        # Arguments and payload are left out: they may carry data that the
        # policy is there to protect, and a repr ends up in logs.
        parts = ["tool=%r" % self.tool]
        if self._resource is not None:
            parts.append("resource=%r" % self.resource)
        if self._dests is not None:
            parts.append("destination=%r" % (self.destination,))
        return "Action(%s)" % ", ".join(parts)


class _ReusedAction:
    """A C action kept by one thread for _with_c_action: reset, not freed, between uses."""

    __slots__ = ("a", "busy")

    def __init__(self) -> None:
        self.a: Optional[ctypes.c_void_p] = ctypes.c_void_p()
        self.busy = False
        check(_L.agentauthz_action_new(_byref(self.a)))

    def __del__(self) -> None:
        a, self.a = self.a, None
        if a and _L is not None:
            _L.agentauthz_action_free(a)


_thread_actions = threading.local()


def _with_c_action(action: Action, fn: Callable[[Any], int]) -> int:
    """Runs fn(c_action) on a C action holding action; returns its code.

    Each thread reuses one C action (reset between uses: the library keeps
    its storage and wipes it), so approve, lease, substitute and
    check_token build it without allocating; a nested call (from a callback
    run inside fn) gets a temporary one.
    """
    held = getattr(_thread_actions, "action", None)
    if held is None:
        held = _thread_actions.action = _ReusedAction()
    if held.busy:
        held = _ReusedAction()
    held.busy = True
    a = held.a
    try:
        _reset(a)
        err = _lib.Error()
        rc = action._fill(a, err)
        if rc != 0:
            check(rc, err, "action")
        return fn(a)
    finally:
        _reset(a)
        held.busy = False


class Decision:
    """The policy's decision on an action: effect is "allow", "deny" or "ask".

    rule names the deciding rule (or the engine's own "session", "limit",
    "leak", "input", "catalogue", "default"), reason its reason, seq the check's number
    in the session. True only for "allow". error is 0, or the code of an internal
    failure that forced this deny.
    """

    __slots__ = ("effect", "rule", "reason", "seq", "error", "action", "_raw")

    def __init__(self, effect: str, rule: str, reason: str = "", seq: int = 0, error: int = 0,
                 action: Optional[Action] = None, _raw: Optional[_lib.Decision] = None) -> None:
        self.effect = effect
        self.rule = rule
        self.reason = reason
        self.seq = seq
        self.error = error
        self.action = action
        self._raw = _raw

    def __bool__(self) -> bool:
        return self.effect == "allow"

    @property
    def allowed(self) -> bool:
        return self.effect == "allow"

    @property
    def denied(self) -> bool:
        return self.effect == "deny"

    @property
    def asks(self) -> bool:
        return self.effect == "ask"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return (self.effect, self.rule, self.reason, self.seq) == (
            other.effect, other.rule, other.reason, other.seq)

    __hash__ = None  # type: ignore[assignment]  # mutable: equal decisions, no hash

    def __repr__(self) -> str:
        return "Decision(effect=%r, rule=%r, reason=%r, seq=%d)" % (
            self.effect, self.rule, self.reason, self.seq)


def _decision_from(d: _lib.Decision, action: Action, rc: int = 0) -> Decision:
    effect = d.effect
    return Decision(
        _EFFECTS[effect] if 0 <= effect < 3 else "deny",
        d.rule.decode("utf-8", "replace"),
        d.reason.decode("utf-8", "replace"),
        d.seq,
        rc,
        action,
        d,
    )


def _closed_decision(action: Action) -> Decision:
    return Decision("deny", "session", "session closed", 0, _lib.ESESSION, action)


# ---- secret bytes ------------------------------------------------------


def _redacted(self: Any) -> str:
    return "<agentauthz.SecretBytes len=%d [redacted]>" % len(self)


def _secret_eq(self: Any, other: Any) -> Any:
    try:
        return hmac.compare_digest(memoryview(self).cast("B"), memoryview(other).cast("B"))
    except TypeError:
        return NotImplemented


def _secret_ne(self: Any, other: Any) -> Any:
    equal = _secret_eq(self, other)
    return equal if equal is NotImplemented else not equal


def _no_pickle(self: Any) -> Any:
    raise TypeError("secret bytes cannot be pickled")


def _secret_bytes(n: int) -> SecretBytes:
    """A zeroed, bytes-like buffer of n bytes whose repr and str never show them.

    It is a ctypes array, so it supports the buffer protocol: memoryview(),
    bytes(), hashlib, socket.sendall and hmac.compare_digest accept it
    without this binding making a copy.
    """
    base = ctypes.c_ubyte * n
    cls = type("SecretBytes", (base,), {
        "__slots__": (),
        "__repr__": _redacted,
        "__str__": _redacted,
        "__eq__": _secret_eq,
        "__ne__": _secret_ne,
        "__hash__": None,
        "__reduce__": _no_pickle,
        "__reduce_ex__": lambda s, p: _no_pickle(s),
    })
    secret: SecretBytes = cls()
    return secret


def _copy_secret(ptr: Any, n: int) -> SecretBytes:
    buf = _secret_bytes(n)
    if n:
        ctypes.memmove(buf, ptr, n)
    return buf


def _wipe(buf: Optional[SecretBytes]) -> None:
    if buf is not None and len(buf):
        ctypes.memset(buf, 0, len(buf))


class _Guarded:
    """Shared context-manager behaviour of leases and substitutions."""

    __slots__ = ()

    @property
    def value(self) -> SecretBytes:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> SecretBytes:
        return self.value

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # interpreter shutdown: the library may be gone
            pass


class Lease(_Guarded):
    """A lease of one session secret, for one allowed action.

    Use it as a context manager: `with session.lease(decision, "db") as value:`
    gives the secret as SecretBytes; on exit the copy is zeroed and the lease
    released. Python itself may copy bytes you derive from it (bytes(value),
    str, decode), and cannot wipe those: pass value straight to the call that
    needs it.
    """

    __slots__ = ("_h", "_session", "_buf", "_lock", "name")

    def __init__(self, session: Session, action: Action, decision: Decision, name: str) -> None:
        self._h: Optional[ctypes.c_void_p] = None
        out = ctypes.c_void_p()
        self._session = session
        self._buf: Optional[SecretBytes] = None
        self._lock = threading.Lock()
        self.name = name
        raw = decision._raw if decision._raw is not None else _CDecision()
        err = _lib.Error()
        cname = cstr(name, "secret")
        sh = session._handle()

        def run(a: Any) -> int:
            rc: int = _L.agentauthz_lease_acquire(sh, a, _byref(raw), cname, _byref(out), err)
            return rc

        rc = _with_c_action(action, run)
        self._h = out
        check(rc, err)

    @property
    def valid(self) -> bool:
        """False once the session has ended (the secret is then wiped)."""
        with self._lock:
            return bool(self._h) and bool(_L.agentauthz_lease_valid(self._h))

    @property
    def value(self) -> SecretBytes:
        """The secret (SecretBytes), zeroed when the lease is released."""
        with self._lock:
            if self._buf is not None:
                return self._buf
            if not self._h:
                raise errors.InvalidArgumentError(_lib.EINVAL, "the lease is released")
            n = ctypes.c_size_t()
            ptr = _L.agentauthz_lease_value(self._h, _byref(n))
            if not ptr:
                raise errors.SessionEndedError(
                    _lib.ESESSION, "secret %r: the session has ended" % self.name)
            self._buf = _copy_secret(ptr, n.value)
            return self._buf

    def release(self) -> None:
        """Zeroes the copy and releases the lease. Idempotent."""
        with self._lock:
            h, self._h = self._h, None
            _wipe(self._buf)
            self._buf = None
        if h:
            _L.agentauthz_lease_release(h)

    def __repr__(self) -> str:
        state = "held" if self._h else "released"
        return "<agentauthz.Lease %r %s>" % (self.name, state)


class Substitution(_Guarded):
    """A request text with ${secret:NAME} placeholders filled in.

    As a context manager it gives SecretBytes; on exit the copy is zeroed and
    the library's guarded buffer wiped and freed.
    """

    __slots__ = ("_h", "_buf", "_lock")

    def __init__(self, session: Session, action: Action, decision: Decision,
                 text: Union[str, bytes, bytearray]) -> None:
        self._h: Optional[ctypes.c_void_p] = None
        out = ctypes.c_void_p()
        self._buf: Optional[SecretBytes] = None
        self._lock = threading.Lock()
        raw_text = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        raw = decision._raw if decision._raw is not None else _CDecision()
        err = _lib.Error()
        sh = session._handle()

        def run(a: Any) -> int:
            rc: int = _L.agentauthz_substitute(sh, a, _byref(raw), raw_text, len(raw_text),
                                               _byref(out), err)
            return rc

        rc = _with_c_action(action, run)
        self._h = out
        check(rc, err)

    @property
    def value(self) -> SecretBytes:
        """The filled-in text (SecretBytes), zeroed when released."""
        with self._lock:
            if self._buf is not None:
                return self._buf
            if not self._h:
                raise errors.InvalidArgumentError(_lib.EINVAL, "the buffer is released")
            n = ctypes.c_size_t()
            ptr = _L.agentauthz_secret_buffer_data(self._h, _byref(n))
            self._buf = _copy_secret(ptr, n.value)
            return self._buf

    def release(self) -> None:
        """Zeroes the copy, wipes and frees the library's buffer. Idempotent."""
        with self._lock:
            h, self._h = self._h, None
            _wipe(self._buf)
            self._buf = None
        if h:
            _L.agentauthz_secret_buffer_free(h)

    def __repr__(self) -> str:
        return "<agentauthz.Substitution %s>" % ("held" if self._h else "released")


def _action_and_decision(args: Tuple[Any, ...], what: str) -> Tuple[Action, Decision, Any]:
    """Parses (decision, x) or (action, decision, x) for lease and substitute."""
    if len(args) == 2:
        decision, last = args
        action = decision.action if isinstance(decision, Decision) else None
    elif len(args) == 3:
        action, decision, last = args
        if isinstance(action, dict):
            action = Action(**action)
    else:
        raise TypeError("%s takes (decision, %s) or (action, decision, %s)" % (what, what, what))
    if not isinstance(decision, Decision):
        raise TypeError("expected a Decision from Session.check")
    if not isinstance(action, Action):
        raise TypeError("the decision carries no action: pass the Action too")
    return action, decision, last


# ---- sessions ------------------------------------------------------------


class Session(_util.Closing):
    """A session: one agent (workload identity) working on one task.

    A context manager: closed on exit, which ends it and destroys its
    secrets. check, approve, revoke, lease, substitute, scrub and delegate
    are safe to call from several threads.
    """

    __slots__ = ("_h", "_engine", "_parent", "_action", "_lock", "_id", "identity", "task",
                 "_loaded_tool", "_reuse", "__weakref__")

    def __init__(self, engine: Engine, handle: ctypes.c_void_p, parent: Optional[Session],
                 identity: Optional[str] = None, task: Optional[str] = None) -> None:
        self._h: Optional[ctypes.c_void_p] = handle
        self._engine = engine
        # A child keeps its parent (and every session its engine) alive:
        # the C library requires them to outlive it.
        self._parent = parent
        self._lock = threading.Lock()
        self._id: str = _L.agentauthz_session_id(handle).decode("ascii")
        self.identity = identity
        self.task = task
        self._action: Optional[ctypes.c_void_p] = ctypes.c_void_p()
        # The tool of the C action when it holds only a tool and arguments.
        self._loaded_tool: Optional[bytes] = None
        # Tests turn this off to compare with always rebuilding the action.
        self._reuse = True
        check(_L.agentauthz_action_new(_byref(self._action)))

    def _handle(self) -> ctypes.c_void_p:
        h = self._h
        if not h:
            raise errors.SessionEndedError(_lib.ESESSION, "the session is closed")
        return h

    @property
    def id(self) -> str:
        """The session's id: 32 lowercase hex characters."""
        return self._id

    @property
    def closed(self) -> bool:
        return not self._h

    def check(self, tool: Union[str, Action], resource: Optional[str] = None,
              destination: Destination = None, args: Args = None, labels: Labels = None,
              payload: Payload = None) -> Decision:
        """Decides the action now. Returns a Decision (truthy only for allow).

        tool may also be an Action. Every failure inside the library is a
        deny (with decision.error set); a malformed argument (a NUL in a
        name, args that are not a JSON-able dict) raises before the check.
        """
        act: Action
        if tool.__class__ is Action:
            act = tool
        elif (resource is None and destination is None and labels is None and payload is None
              and tool.__class__ is str and (args is None or args.__class__ is dict)):
            # The common case, built inline: a call costs as much here as the C check.
            act = _new_action(Action)
            act._tool = tb = tool.encode("utf-8")
            if b"\0" in tb:
                raise ValueError("tool contains a NUL character")
            act._resource = act._dests = act._labels = act._payload = None
            act._args = None if args is None else _dumps(args).encode("utf-8")
        else:
            # tool is a str here (or a wrong type, which Action refuses).
            act = Action(tool, resource, destination, args, labels,  # type: ignore[arg-type]
                         payload)
        d = _CDecision()
        with self._lock:
            h = self._h
            if not h:
                return _closed_decision(act)
            self._load_action(act)
            rc = _check(h, self._action, d)
        if self._engine._clock_failed:
            return Decision("deny", "session", "the engine's clock failed", d.seq, _lib.EINVAL,
                            act)
        effect = d.effect
        return Decision(_EFFECTS[effect] if 0 <= effect < 3 else "deny",
                        d.rule.decode("utf-8", "replace"), d.reason.decode("utf-8", "replace"),
                        d.seq, rc, act, d)

    def _load_action(self, act: Action) -> None:
        """Writes act into the session's reusable C action; the caller holds the lock.

        When both the action already there and act are only a tool with
        arguments, and the tool is the same, replacing the arguments is
        enough (agentauthz_action_set_args_json replaces them all): that
        saves two calls into C on the path every tool call takes.
        """
        a = self._action
        simple = (act._resource is None and act._dests is None and act._labels is None
                  and act._payload is None and act._args is not None)
        if simple and self._loaded_tool == act._tool and self._reuse:
            if _set_args_json(a, act._args, len(act._args or b""), None) == 0:
                return
        else:
            _reset(a)
            if act._fill(a, None) == 0:
                self._loaded_tool = act._tool if simple else None
                return
        # Failed: redo it on an empty action to learn why (the library's
        # message says where the arguments are malformed), then raise.
        self._loaded_tool = None
        _reset(a)
        err = _lib.Error()
        check(act._fill(a, err), err, "action")

    def approve(self, tool: Union[str, Action, Decision], resource: Optional[str] = None,
                destination: Destination = None, args: Args = None, labels: Labels = None,
                payload: Payload = None, scope: str = "once") -> None:
        """Records a human approval of this exact action ("once" or "session").

        tool may be a tool name, an Action or the Decision of the ask.
        """
        act: Optional[Action]
        if isinstance(tool, Decision):
            act = tool.action
        elif isinstance(tool, Action):
            act = tool
        else:
            act = Action(tool, resource, destination, args, labels, payload)
        if scope not in _SCOPES:
            raise ValueError('scope must be "once" or "session"')
        if act is None:
            raise TypeError("the decision carries no action: pass the Action")
        h = self._handle()
        check(_with_c_action(act, lambda a: _L.agentauthz_approve(h, a, _SCOPES[scope])))

    def revoke(self) -> None:
        """Revokes the session: every later check is denied. Idempotent."""
        with self._lock:
            h = self._h
            if h:
                check(_L.agentauthz_session_revoke(h))

    def close(self) -> None:
        """Ends the session and destroys its secrets. Idempotent."""
        with self._lock:
            h, self._h = self._h, None
            a, self._action = self._action, None
        if h:
            _L.agentauthz_session_close(h)
        if a:
            _L.agentauthz_action_free(a)

    @overload
    def lease(self, decision: Decision, name: str, /) -> Lease: ...

    @overload
    def lease(self, action: Union[Action, Dict[str, Any]], decision: Decision, name: str,
              /) -> Lease: ...

    def lease(self, *args: Any) -> Lease:
        """Leases a session secret for an allowed action.

        session.lease(decision, "db") or session.lease(action, decision, "db").
        Returns a Lease, a context manager giving SecretBytes. Raises
        RefusedError (not allowed, or the secret is bound to other tools),
        NotFoundError (no such secret) or SessionEndedError.
        """
        action, decision, name = _action_and_decision(args, "secret")
        return Lease(self, action, decision, name)

    @overload
    def substitute(self, decision: Decision, text: Union[str, bytes, bytearray],
                   /) -> Substitution: ...

    @overload
    def substitute(self, action: Union[Action, Dict[str, Any]], decision: Decision,
                   text: Union[str, bytes, bytearray], /) -> Substitution: ...

    def substitute(self, *args: Any) -> Substitution:
        """Fills ${secret:NAME} placeholders of a text for an allowed action.

        session.substitute(decision, text) or (action, decision, text).
        All or nothing: RefusedError if any placeholder is refused.
        """
        action, decision, text = _action_and_decision(args, "text")
        return Substitution(self, action, decision, text)

    @overload
    def scrub(self, data: str) -> str: ...

    @overload
    def scrub(self, data: Union[bytes, bytearray, memoryview]) -> bytes: ...

    def scrub(self, data: Union[str, bytes, bytearray, memoryview]) -> Union[str, bytes]:
        """A copy of a tool's output with every live secret replaced by [redacted:NAME].

        Accepts str (returns str) or bytes-like (returns bytes).
        """
        as_text = isinstance(data, str)
        raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
        out = ctypes.c_void_p()
        n = ctypes.c_size_t()
        err = _lib.Error()
        rc = _L.agentauthz_scrub(self._handle(), raw, len(raw), _byref(out), _byref(n), err)
        check(rc, err)
        try:
            result = ctypes.string_at(out, n.value)
        finally:
            _L.agentauthz_free(out)
        return result.decode("utf-8", "surrogateescape") if as_text else result

    def observe(self, tool: Optional[str], output: Any,
                labels: Union[None, str, Iterable[str]] = None) -> None:
        """Records what a tool returned, for the policy's from and not_from predicates.

        output is str or bytes (indexed as text) or any JSON-able value (each
        string and number in it, at any depth). labels (a str or a list of
        str) join the output labels the policy's catalogue gives tool (which
        may be None: the labels given only). Raises LimitError when the
        output could not be recorded whole: what was kept stays, and later
        from and not_from checks that do not find their value are denied.
        """
        label_list = str_list(labels, "label") or []
        larr = char_pp(label_list)
        n = len(label_list)
        err = _lib.Error()
        h = self._handle()
        if isinstance(output, (str, bytes, bytearray, memoryview)):
            raw = (output.encode("utf-8", "surrogateescape") if isinstance(output, str)
                   else bytes(output))

            def run(a: Any) -> int:
                return int(_L.agentauthz_session_observe(h, a, raw, len(raw), larr, n, err))
        else:
            text = _dumps(output).encode("utf-8")
            value = ctypes.c_void_p()
            check(_L.agentauthz_value_parse_json(text, len(text), _byref(value), err), err,
                  "output")

            def run(a: Any) -> int:
                try:
                    return int(_L.agentauthz_session_observe_value(h, a, value, larr, n, err))
                finally:
                    _L.agentauthz_value_free(value)
        if tool is None:
            rc = run(None)
        else:
            rc = _with_c_action(Action(tool), run)
        check(rc, err)

    def delegate(self, identity: str, task: str,
                 tools: Union[None, str, Iterable[str]] = None,
                 secrets: Union[None, str, Iterable[str]] = None, ttl: Optional[float] = None,
                 params: Args = None) -> Session:
        """Opens a narrower child session for a sub-agent.

        tools limits the child to these tool names or globs (None: as the
        parent); secrets names parent secrets to hand down. The child ends no
        later than this session.
        """
        tool_list = str_list(tools, "tool")
        secret_list = str_list(secrets, "secret") or []
        tarr = char_pp(tool_list or [])
        sarr = char_pp(secret_list)
        opt = _lib.DelegateOptions()
        opt.version = _lib.DELEGATE_OPTIONS_VERSION
        opt.ttl_ns = ttl_ns(ttl)
        if tool_list is not None:
            opt.tools = ctypes.cast(tarr, ctypes.POINTER(ctypes.c_char_p))
            opt.ntools = len(tool_list)
        if secret_list:
            opt.secrets = ctypes.cast(sarr, ctypes.POINTER(ctypes.c_char_p))
            opt.nsecrets = len(secret_list)
        out = ctypes.c_void_p()
        err = _lib.Error()
        with Value(params, "params") as p:
            opt.params = p
            rc = _L.agentauthz_session_delegate(self._handle(), cstr(identity, "identity"),
                                                cstr(task, "task"), _byref(opt), _byref(out),
                                                err)
        check(rc, err)
        child = Session(self._engine, out, self, identity, task)
        self._engine._sessions.add(child)
        return child

    def __repr__(self) -> str:
        state = " closed" if not self._h else ""
        return "<agentauthz.Session %s task=%r identity=%r%s>" % (self._id, self.task,
                                                                  self.identity, state)

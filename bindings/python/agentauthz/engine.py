"""Engines, policies and audit logs."""

from __future__ import annotations

import ctypes
import os
import threading
import weakref
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Union)

from . import _lib
from . import _util
from . import errors
from ._util import check, cstr, optional_cstr, ttl_ns, Value
from .keys import Keys, PathArg, PublicKey, Verifier, _PKBuf, _pubkey, public_key_text

if TYPE_CHECKING:  # session.py imports this module
    from .session import Action, Decision, Session

_L = _lib.lib
_U64_MAX = (1 << 64) - 1

# A clock: a callable returning nanoseconds.
Clock = Callable[[], int]
# What a `host` secret provider's callbacks get: secret, session, identity,
# task (str) and ttl (seconds, float).
SecretRequest = Dict[str, Any]
SecretIssue = Callable[[SecretRequest], Union[bytes, bytearray, memoryview]]
SecretRevoke = Callable[[SecretRequest], object]


def _clock_callback(fn: Clock, failures: List[str]) -> Any:
    """A C clock calling fn(), which returns nanoseconds.

    An exception cannot cross into C. The clock then repeats its last good
    reading (so that the library's arithmetic stays sane) and records the
    failure in failures; Session.check turns every decision of an engine
    whose clock has failed into a deny, so that a broken clock fails closed.
    """
    last = [0]

    def call(_ctx: object) -> int:
        try:
            ns = min(max(int(fn()), 0), _U64_MAX)
        except BaseException as exc:  # noqa: B036 - nothing may propagate into C
            if not failures:
                failures.append(repr(exc))
            return last[0]
        last[0] = ns
        return ns

    return _lib.CLOCK_FN(call)


def _request_dict(req: Any) -> SecretRequest:
    r = req.contents
    return {
        "secret": r.secret.decode("utf-8", "replace"),
        "session": r.session.decode("utf-8", "replace"),
        "identity": r.identity.decode("utf-8", "replace"),
        "task": r.task.decode("utf-8", "replace"),
        "ttl": r.ttl_ns / 1e9,
    }


def _issue_callback(fn: SecretIssue) -> Any:
    """A C `host` secret provider calling fn(request) -> bytes-like.

    The value is copied straight into the library's buffer; the object fn
    returned is the host's, and Python cannot wipe it.
    """

    def call(_ctx: object, req: Any, buf: Any, cap: int, lenp: Any) -> int:
        try:
            value = memoryview(fn(_request_dict(req))).cast("B")
            if not 0 < len(value) <= cap:
                return 1
            ctypes.memmove(buf, (ctypes.c_ubyte * len(value)).from_buffer_copy(value),
                           len(value))
            lenp[0] = len(value)
            return 0
        except BaseException:  # noqa: B036 - a failing provider refuses
            return 1

    return _lib.SECRET_ISSUE_FN(call)


def _revoke_callback(fn: SecretRevoke) -> Any:
    def call(_ctx: object, req: Any) -> None:
        try:
            fn(_request_dict(req))
        except BaseException:  # noqa: B036 - nothing may propagate into C
            pass

    return _lib.SECRET_REVOKE_FN(call)


def _diag_collector(found: List[errors.Diagnostic]) -> Any:
    def call(diag: Any, is_warning: int, _ctx: object) -> None:
        d = diag.contents
        found.append(
            errors.Diagnostic(
                d.code,
                d.message.decode("utf-8", "replace"),
                d.path.decode("utf-8", "replace"),
                d.line,
                d.column,
                d.offset,
                bool(is_warning),
            )
        )

    return _lib.DIAG_FN(call)


def _first_diag(rc: int, err: _lib.Error) -> errors.Diagnostic:
    """The error err describes, as a Diagnostic (for loads that reported none)."""
    message = err.message.decode("utf-8", "replace") or errors.strerror(rc)
    return errors.Diagnostic(rc, message, err.path.decode("utf-8", "replace"), err.line,
                             err.column, err.offset)


class AuditReport:
    """The outcome of audit_verify."""

    __slots__ = ("problem", "records", "last_seq", "file", "path", "line", "reason", "schema",
                 "signed_seq", "log_id")

    def __init__(self, res: _lib.AuditResult) -> None:
        rep = res.report
        n = len(_lib.AUDIT_PROBLEMS)
        self.problem: str = (_lib.AUDIT_PROBLEMS[rep.problem] if 0 <= rep.problem < n
                             else "malformed")
        # schema (1 or 2), signed_seq (the last record a verified signature
        # covers: later ones are checked by their MACs, or not at all with a
        # public key alone) and log_id (empty for a version 1 log).
        self.schema: int = res.schema
        self.signed_seq: int = res.signed_seq
        self.log_id: str = res.log_id.decode("ascii", "replace")
        self.records: int = rep.records
        self.last_seq: int = rep.last_seq
        self.file: int = rep.file
        self.path: str = rep.path.decode("utf-8", "replace")
        self.line: int = rep.line
        self.reason: str = rep.reason.decode("utf-8", "replace")

    @property
    def intact(self) -> bool:
        return self.problem == "intact"

    def __repr__(self) -> str:
        return "AuditReport(problem=%r, records=%d, last_seq=%d, path=%r, line=%d)" % (
            self.problem, self.records, self.last_seq, self.path, self.line)


def audit_verify(keys: Optional[Keys], *paths: PathArg, pubkey: Optional[PublicKey] = None,
                 engine: Optional[str] = None, expect_last: Optional[int] = None) -> AuditReport:
    """Verifies an audit log (its files oldest first).

    keys (a Keys object) checks every MAC with the audit key, and that the
    log is that engine's; keys=None with pubkey (text, 32 bytes or Keys)
    checks the hash chain and the signatures only, up to the last signed
    record (report.signed_seq). engine: the name the log must start with;
    expect_last: the sequence number it must end at (detects a cut end).
    Returns an AuditReport when intact; raises TamperError (with .report)
    when a record is bad or the log is not the expected one, FileError when a
    file cannot be read.
    """
    if keys is not None and not isinstance(keys, Keys):
        raise TypeError("keys must be an agentauthz.Keys")
    if keys is None and pubkey is None:
        raise TypeError("audit_verify needs keys or pubkey")
    raw = [cstr(os.fsencode(p), "path") for p in paths]
    arr = (ctypes.c_char_p * max(len(raw), 1))(*raw)
    opt = _lib.AuditVerifyOptions()
    opt.version = _lib.AUDIT_VERIFY_OPTIONS_VERSION
    opt.keys = keys._handle() if keys is not None else None
    pk = None if pubkey is None else _pubkey(pubkey)
    opt.pubkey = None if pk is None else ctypes.addressof(pk)
    opt.engine = optional_cstr(engine, "engine")
    opt.expect_last = 0 if expect_last is None else int(expect_last)
    res = _lib.AuditResult()
    res.version = _lib.AUDIT_RESULT_VERSION
    err = _lib.Error()
    rc = _L.agentauthz_audit_verify_ext(ctypes.byref(opt), arr, len(raw), ctypes.byref(res), err)
    report = AuditReport(res)
    if rc == _lib.ETAMPER:
        raise errors.TamperError(rc, err.message.decode("utf-8", "replace"), report)
    check(rc, err)
    return report


class Engine(_util.Closing):
    """A policy engine: holds the policy in force and the sessions opened on it.

    clock, if given, is a callable returning monotonic nanoseconds (tests use
    it to move time by hand); wall_clock one returning Unix nanoseconds.
    keys (a Keys object) fixes the signing, master and audit keys; without
    it the engine makes fresh ones. secret_issue(request) -> bytes and
    secret_revoke(request) implement the policy's `host` secret provider;
    request is a dict with secret, session, identity, task and ttl.

    All methods are safe to call from several threads, except close().
    """

    def __init__(self, clock: Optional[Clock] = None, keys: Optional[Keys] = None,
                 wall_clock: Optional[Clock] = None, secret_issue: Optional[SecretIssue] = None,
                 secret_revoke: Optional[SecretRevoke] = None,
                 name: Optional[str] = None) -> None:
        if keys is not None and not isinstance(keys, Keys):
            raise TypeError("keys must be an agentauthz.Keys")
        self._h: Optional[ctypes.c_void_p] = ctypes.c_void_p()
        self._lock = threading.Lock()
        self._sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        self._audit_cb: Any = None
        # Non-empty once a clock callback has raised: see _clock_callback.
        self._clock_failed: List[str] = []
        # The C library keeps these pointers: they must live as long as we do.
        self._keep: List[object] = [keys]
        opt = _lib.EngineOptions()
        opt.version = _lib.ENGINE_OPTIONS_VERSION
        if clock is not None:
            opt.clock = self._kept(_clock_callback(clock, self._clock_failed))
        if wall_clock is not None:
            opt.wall_clock = self._kept(_clock_callback(wall_clock, self._clock_failed))
        if keys is not None:
            opt.keys = keys._handle()
        if secret_issue is not None:
            opt.secret_issue = self._kept(_issue_callback(secret_issue))
        if secret_revoke is not None:
            opt.secret_revoke = self._kept(_revoke_callback(secret_revoke))
        opt.name = optional_cstr(name, "name")
        err = _lib.Error()
        check(_L.agentauthz_engine_new(ctypes.byref(self._h), ctypes.byref(opt), err), err)

    def _kept(self, obj: Any) -> Any:
        self._keep.append(obj)
        return obj

    def _handle(self) -> ctypes.c_void_p:
        h = self._h
        if not h:
            raise errors.InvalidArgumentError(_lib.EINVAL, "the engine is closed")
        return h

    def _load(self, call: Callable[[Any, _lib.Error], int]) -> List[errors.Diagnostic]:
        found: List[errors.Diagnostic] = []
        opt = _lib.LoadOptions(_lib.LOAD_OPTIONS_VERSION, _diag_collector(found), None)
        err = _lib.Error()
        rc = call(ctypes.byref(opt), err)
        warnings = [d for d in found if d.warning]
        if rc == 0:
            return warnings
        # Every failure to load a policy (invalid, too deep, unreadable) is a
        # PolicyError with its location; .code keeps the library's code.
        # Only misuse and exhaustion keep their own classes.
        if rc in (_lib.EINVAL, _lib.ENOMEM):
            check(rc, err)
        errs = [d for d in found if not d.warning]
        first = errs[0] if errs else _first_diag(rc, err)
        raise errors.PolicyError(first.message, first.file, first.line, first.column,
                                 errs or [first], rc, warnings)

    def load(self, *paths: PathArg) -> List[errors.Diagnostic]:
        """Loads files and directories as one policy, atomically replacing the old one.

        Returns the list of warnings (Diagnostic). Raises PolicyError, with
        every error found in .errors, and keeps the previous policy in force.
        """
        if not paths:
            raise ValueError("load needs at least one path")
        raw = [cstr(os.fsencode(p), "path") for p in paths]
        arr = (ctypes.c_char_p * len(raw))(*raw)
        h = self._handle()
        return self._load(lambda opt, err: _L.agentauthz_engine_load(h, arr, len(raw), opt, err))

    def load_string(self, text: Union[str, bytes, bytearray],
                    name: str = "<string>") -> List[errors.Diagnostic]:
        """Loads a policy from YAML text, as load() does for files."""
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        cname = cstr(name, "name")
        h = self._handle()
        return self._load(
            lambda opt, err: _L.agentauthz_engine_load_string(h, cname, raw, len(raw), opt, err))

    def policy_info(self) -> Dict[str, Any]:
        """A dict describing the policy in force (name, hash, counts, generation)."""
        info = _lib.PolicyInfo()
        check(_L.agentauthz_engine_policy_info(self._handle(), ctypes.byref(info)))
        return {
            "name": info.name.decode("utf-8", "replace"),
            "hash": info.hash.decode("ascii"),
            "rules": info.rules,
            "tasks": info.tasks,
            "secrets": info.secrets,
            "identities": info.identities,
            "generation": info.generation,
        }

    def session(self, identity: str, task: str, params: Optional[Mapping[str, Any]] = None,
                ttl: Optional[float] = None) -> Session:
        """Opens a Session for a workload identity and a task.

        params is a dict of the task's parameters; ttl is in seconds (None:
        the policy's default). Raises UnknownTaskError, IdentityError,
        ParamError or NoPolicyError.
        """
        from .session import Session

        opt = _lib.SessionOptions(_lib.SESSION_OPTIONS_VERSION, ttl_ns(ttl), None)
        out = ctypes.c_void_p()
        err = _lib.Error()
        with Value(params, "params") as p:
            opt.params = p
            rc = _L.agentauthz_session_open(self._handle(), cstr(identity, "identity"),
                                            cstr(task, "task"), ctypes.byref(opt),
                                            ctypes.byref(out), err)
        check(rc, err)
        s = Session(self, out, None, identity, task)
        self._sessions.add(s)
        return s

    def sweep(self) -> int:
        """Ends the sessions whose TTL has passed; returns how many."""
        n = ctypes.c_size_t()
        check(_L.agentauthz_engine_sweep(self._handle(), ctypes.byref(n)))
        return n.value

    @property
    def public_key(self) -> bytes:
        """The raw Ed25519 public key task tokens verify with."""
        pk = _PKBuf()
        check(_L.agentauthz_engine_public_key(self._handle(), ctypes.byref(pk)))
        return bytes(pk)

    @property
    def public_key_text(self) -> str:
        return public_key_text(self.public_key)

    @property
    def jwks(self) -> str:
        """The engine's public key as a JWK Set (JSON text): what a service verifies
        task tokens with, in any JWT library."""
        buf = ctypes.create_string_buffer(_lib.JWKS_TEXT_MAX)
        check(_L.agentauthz_engine_jwks(self._handle(), buf, len(buf)))
        return buf.value.decode("ascii")

    def set_audit(self, path: Optional[PathArg] = None,
                  callback: Optional[Callable[[bytes], object]] = None, flush: str = "record",
                  flush_every: int = 0, fsync: bool = False,
                  checkpoint_every: int = 1000) -> None:
        """Starts (or with neither path nor callback, stops) the audit log.

        callback(line: bytes) is called for every record while the log's lock
        is held: it must be quick and must not call back into the engine. If it
        raises, the record counts as not written: the check it is about is
        denied ("the audit record could not be written") and the record is
        taken back from the chain. checkpoint_every: records between signed
        checkpoints (0: only at a reopen and at close).
        """
        err = _lib.Error()
        if path is None and callback is None:
            check(_L.agentauthz_engine_set_audit(self._handle(), None, err), err)
            self._audit_cb = None
            return
        opt = _lib.AuditOptions()
        opt.version = _lib.AUDIT_OPTIONS_VERSION
        opt.path = None if path is None else cstr(os.fsencode(path), "path")
        opt.flush = _lib.AUDIT_FLUSH[flush]
        opt.flush_every = flush_every
        opt.fsync = 1 if fsync else 0
        opt.checkpoint_every = checkpoint_every
        cb = None
        if callback is not None:
            def call(line: Any, length: int, _ctx: object) -> int:
                try:
                    callback(ctypes.string_at(line, length))
                    return 0
                except BaseException:  # noqa: B036 - a sink that failed refuses the record
                    return 1

            cb = _lib.AUDIT_FN(call)
            opt.callback = cb
        check(_L.agentauthz_engine_set_audit(self._handle(), ctypes.byref(opt), err), err)
        # Kept until replaced: the engine calls it on later checks.
        self._audit_cb = cb

    def audit_reopen(self) -> None:
        """Reopens the audit file after log rotation renamed it."""
        err = _lib.Error()
        check(_L.agentauthz_engine_audit_reopen(self._handle(), err), err)

    def check_token(self, verifier: Verifier, token: Union[str, bytes, bytearray],
                    tool: Union[str, Action], resource: Optional[str] = None,
                    destination: Union[None, str, Iterable[str]] = None,
                    args: Optional[Dict[str, Any]] = None,
                    labels: Optional[Iterable[str]] = None,
                    payload: Union[None, str, bytes, bytearray] = None) -> Decision:
        """For a downstream service: verifies a task token and checks the action
        for its identity and task under this engine's policy. Returns a
        Decision; raises TokenError (and subclasses) or SessionEndedError
        when the token is bad."""
        from .session import Action, Decision, _decision_from, _with_c_action  # noqa: F811

        action = tool if isinstance(tool, Action) else Action(
            tool, resource, destination, args, labels, payload)
        raw = token.encode("utf-8") if isinstance(token, str) else bytes(token)
        d = _lib.Decision()
        err = _lib.Error()
        vh = verifier._handle()

        def run(a: Any) -> int:
            rc: int = _L.agentauthz_check_token(self._handle(), vh, raw, len(raw), a,
                                                ctypes.byref(d), err)
            return rc

        rc = _with_c_action(action, run)
        check(rc, err)
        if self._clock_failed:
            return Decision("deny", "session", "the engine's clock failed", d.seq, _lib.EINVAL,
                            action)
        return _decision_from(d, action)

    def close(self) -> None:
        """Closes the engine's open sessions and frees it. Not thread-safe."""
        with self._lock:
            h, self._h = self._h, None
        if not h:
            return
        for s in list(self._sessions):
            s.close()
        _L.agentauthz_engine_free(h)

    def __repr__(self) -> str:
        if not self._h:
            return "<agentauthz.Engine closed>"
        try:
            info = self.policy_info()
            return "<agentauthz.Engine policy=%r generation=%d>" % (info["name"],
                                                                    info["generation"])
        except errors.AgentAuthzError:
            return "<agentauthz.Engine no policy>"

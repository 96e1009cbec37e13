"""Exceptions: one class per family of the C library's AGENTAUTHZ_E* codes.

Messages come from the library, which never puts a secret value into an
error message, or from this binding, which only ever names secrets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, Optional, Type

from . import _lib

if TYPE_CHECKING:  # the modules that define them import this one
    from .engine import AuditReport
    from .session import Decision

# Raised by `import agentauthz` (an ImportError) when no library loads; it is
# defined with the loader, which runs before anything else can be imported.
LibraryNotFoundError = _lib.LibraryNotFoundError


class AgentAuthzError(Exception):
    """A call into libagentauthz failed. code is the negative AGENTAUTHZ_E* code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(AgentAuthzError, ValueError):
    """AGENTAUTHZ_EINVAL: misuse, such as a closed handle or a malformed argument."""


class OutOfMemoryError(AgentAuthzError, MemoryError):
    """AGENTAUTHZ_ENOMEM."""


class FileError(AgentAuthzError):
    """AGENTAUTHZ_EIO, EPERM, EEXIST: a file could not be used."""


class Diagnostic:
    """One finding of a policy load: an error, or a warning when warning is True."""

    __slots__ = ("code", "message", "file", "line", "column", "offset", "warning")

    def __init__(self, code: int, message: str, file: str, line: int, column: int,
                 offset: int = 0, warning: bool = False) -> None:
        self.code = code
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.offset = offset
        self.warning = warning

    def __str__(self) -> str:
        kind = "warning" if self.warning else "error"
        if self.line:
            return "%s:%d:%d: %s: %s" % (self.file, self.line, self.column, kind, self.message)
        if self.file:
            return "%s: %s: %s" % (self.file, kind, self.message)
        return "%s: %s" % (kind, self.message)

    def __repr__(self) -> str:
        return "Diagnostic(%r)" % str(self)


class PolicyError(AgentAuthzError):
    """A policy did not load; the previous policy stays in force.

    file, line and column locate the first error; errors lists every error
    the loader found (Diagnostic objects), warnings the warnings.
    """

    def __init__(self, message: str, file: str = "", line: int = 0, column: int = 0,
                 errors: Optional[Iterable[Diagnostic]] = None, code: int = _lib.EPOLICY,
                 warnings: Optional[Iterable[Diagnostic]] = None) -> None:
        super().__init__(code, message)
        self.file = file
        self.line = line
        self.column = column
        self.errors = list(errors or [])
        self.warnings = list(warnings or [])

    def __str__(self) -> str:
        if self.line:
            return "%s:%d:%d: %s" % (self.file, self.line, self.column, self.message)
        if self.file:
            return "%s: %s" % (self.file, self.message)
        return self.message


class NoPolicyError(AgentAuthzError):
    """AGENTAUTHZ_ENOPOLICY: no policy is loaded."""


class SessionOpenError(AgentAuthzError):
    """A session could not be opened for this identity, task and parameters."""


class UnknownTaskError(SessionOpenError):
    """AGENTAUTHZ_ENOTASK."""


class IdentityError(SessionOpenError):
    """AGENTAUTHZ_EIDENTITY: the identity may not open the task."""


class ParamError(SessionOpenError):
    """AGENTAUTHZ_EPARAM: task parameters missing, undeclared or of the wrong type."""


class JSONError(AgentAuthzError):
    """AGENTAUTHZ_EJSON."""


class LimitError(AgentAuthzError):
    """AGENTAUTHZ_ELIMIT: a size, depth or count bound was hit."""


class SessionEndedError(AgentAuthzError):
    """AGENTAUTHZ_ESESSION: the session (or a secret's lifetime) has ended."""


class NotFoundError(AgentAuthzError):
    """AGENTAUTHZ_ENOTFOUND: no such secret, key or entry."""


class RefusedError(AgentAuthzError):
    """AGENTAUTHZ_EDENIED: a lease or substitution was refused by the policy."""


class CryptoError(AgentAuthzError):
    """AGENTAUTHZ_ECRYPTO: a key is malformed or libsodium failed."""


class TokenError(AgentAuthzError):
    """AGENTAUTHZ_ETOKEN: a task token is malformed (or not valid yet)."""


class SignatureError(TokenError):
    """AGENTAUTHZ_ESIGNATURE."""


class ExpiredError(TokenError):
    """AGENTAUTHZ_EEXPIRED."""


class AudienceError(TokenError):
    """AGENTAUTHZ_EAUDIENCE."""


class AlgorithmError(TokenError):
    """AGENTAUTHZ_EALGORITHM: the token's "alg" is "none" or not EdDSA."""


class KeyIdError(TokenError):
    """AGENTAUTHZ_EKEYID: the token's "kid" is missing or names no key the verifier holds."""


class TokenTypeError(TokenError):
    """AGENTAUTHZ_ETOKENTYPE: the token's "typ" is not txntoken+jwt."""


class ProviderError(AgentAuthzError):
    """AGENTAUTHZ_EPROVIDER: the host's secret provider refused."""


class TamperError(AgentAuthzError):
    """AGENTAUTHZ_ETAMPER: an audit log's MAC chain is broken; report says where."""

    def __init__(self, code: int, message: str, report: Optional[AuditReport] = None) -> None:
        super().__init__(code, message)
        self.report = report


class Denied(AgentAuthzError):
    """A guarded tool call was not allowed. decision is the Decision."""

    def __init__(self, decision: Decision, tool: Optional[str] = None) -> None:
        tool = tool or "the call"
        msg = "%s: %s by rule %s" % (tool, decision.effect, decision.rule)
        if decision.reason:
            msg += ": " + decision.reason
        super().__init__(_lib.EDENIED, msg)
        self.decision = decision
        self.tool = tool


_CLASSES: Dict[int, Type[AgentAuthzError]] = {
    _lib.EINVAL: InvalidArgumentError,
    _lib.ENOMEM: OutOfMemoryError,
    _lib.EIO: FileError,
    _lib.EPOLICY: PolicyError,
    _lib.ENOPOLICY: NoPolicyError,
    _lib.ENOTASK: UnknownTaskError,
    _lib.EIDENTITY: IdentityError,
    _lib.EPARAM: ParamError,
    _lib.EJSON: JSONError,
    _lib.ELIMIT: LimitError,
    _lib.ESESSION: SessionEndedError,
    _lib.ENOTFOUND: NotFoundError,
    _lib.EDENIED: RefusedError,
    _lib.ECRYPTO: CryptoError,
    _lib.ETOKEN: TokenError,
    _lib.ESIGNATURE: SignatureError,
    _lib.EEXPIRED: ExpiredError,
    _lib.EAUDIENCE: AudienceError,
    _lib.EPERM: FileError,
    _lib.EEXIST: FileError,
    _lib.EPROVIDER: ProviderError,
    _lib.ETAMPER: TamperError,
    _lib.EALGORITHM: AlgorithmError,
    _lib.EKEYID: KeyIdError,
    _lib.ETOKENTYPE: TokenTypeError,
}


def strerror(code: int) -> str:
    """The library's static name for an error code."""
    return _text(_lib.lib.agentauthz_strerror(code))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def from_code(rc: int, err: Optional[_lib.Error] = None,
              what: Optional[str] = None) -> AgentAuthzError:
    """The exception for return code rc, with the details err holds (may be None)."""
    message = _text(err.message) if err is not None and err.message else strerror(rc)
    path = _text(err.path) if err is not None else ""
    if what and not path:
        message = "%s: %s" % (what, message)
    cls = _CLASSES.get(rc, AgentAuthzError)
    if cls is PolicyError:
        line = err.line if err is not None else 0
        column = err.column if err is not None else 0
        diag = Diagnostic(rc, message, path, line, column)
        return PolicyError(message, path, line, column, [diag])
    if err is not None and path and (err.line or rc in (_lib.EIO, _lib.EPERM, _lib.EEXIST)):
        if err.line:
            message = "%s:%d:%d: %s" % (path, err.line, err.column, message)
        else:
            message = "%s: %s" % (path, message)
    return cls(rc, message)

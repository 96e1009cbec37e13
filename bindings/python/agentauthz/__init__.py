"""agentauthz: runtime authorization for AI agents' tool calls (libagentauthz).

A ctypes binding of the C library: standard library only, any Python 3.9+.
The shared library is the copy bundled in the package (a wheel carries
one), then the AGENTAUTHZ_LIBRARY environment variable (a full path), then
the system's: ctypes.util.find_library("agentauthz"), then
"libagentauthz.so.0". If none loads, importing raises LibraryNotFoundError
(an ImportError) naming every path tried. Typed (py.typed).

    from agentauthz import Engine
    engine = Engine()
    engine.load("policy.yaml")
    with engine.session("spiffe://corp.example/agents/support/7", "triage-ticket") as s:
        d = s.check("read_file", resource="/kb/refunds.md")
        if d:
            ...
"""

from . import _lib
from .engine import AuditReport, Engine, audit_verify
from .errors import (
    AgentAuthzError,
    AlgorithmError,
    AudienceError,
    CryptoError,
    Denied,
    Diagnostic,
    ExpiredError,
    FileError,
    IdentityError,
    InvalidArgumentError,
    KeyIdError,
    JSONError,
    LibraryNotFoundError,
    LimitError,
    NoPolicyError,
    NotFoundError,
    OutOfMemoryError,
    ParamError,
    PolicyError,
    ProviderError,
    RefusedError,
    SessionEndedError,
    SessionOpenError,
    SignatureError,
    TamperError,
    TokenError,
    TokenTypeError,
    UnknownTaskError,
    strerror,
)
from .guard import guard
from .keys import Keys, Verifier, jwks, key_id, verify_token
from .session import Action, Decision, Lease, Session, Substitution

__version__ = "0.1.0"


def library_version() -> str:
    """The version of the loaded C library, "MAJOR.MINOR.PATCH"."""
    version: bytes = _lib.lib.agentauthz_version()
    return version.decode("ascii")


__all__ = [
    "Action",
    "AgentAuthzError",
    "AlgorithmError",
    "AudienceError",
    "AuditReport",
    "CryptoError",
    "Decision",
    "Denied",
    "Diagnostic",
    "Engine",
    "ExpiredError",
    "FileError",
    "IdentityError",
    "InvalidArgumentError",
    "KeyIdError",
    "JSONError",
    "Keys",
    "Lease",
    "LibraryNotFoundError",
    "LimitError",
    "NoPolicyError",
    "NotFoundError",
    "OutOfMemoryError",
    "ParamError",
    "PolicyError",
    "ProviderError",
    "RefusedError",
    "Session",
    "SessionEndedError",
    "SessionOpenError",
    "SignatureError",
    "Substitution",
    "TamperError",
    "TokenError",
    "TokenTypeError",
    "UnknownTaskError",
    "Verifier",
    "audit_verify",
    "guard",
    "library_version",
    "strerror",
    "jwks",
    "key_id",
    "verify_token",
]

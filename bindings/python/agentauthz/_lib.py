"""The C library, its structs and its function prototypes, through ctypes.

Every struct here mirrors include/agentauthz.h (and agentauthz/secrets.h,
agentauthz/audit.h) field for field; tests/test_layout.py compiles a small C
program to compare sizes and offsets with these declarations, because a
silent layout mismatch would corrupt memory rather than raise.

Every function the binding calls has its argtypes and restype declared: ctypes
would otherwise pass Python ints as C int and truncate 64-bit pointers.

The library is, in this order: the copy bundled in the package (a wheel
carries one), $AGENTAUTHZ_LIBRARY (a full path), then the system's
(ctypes.util.find_library, then libagentauthz.so.0 through the loader's
path); with AGENTAUTHZ_LIBRARY set, the system's copy is not tried. `path`
is the one that loaded.
"""

import ctypes
import ctypes.util
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_ulong,
    c_void_p,
)

# Sizes from the headers.
ERROR_PATH_MAX = 512
ERROR_MESSAGE_MAX = 512
NAME_MAX = 129
REASON_MAX = 512
PUBKEY_BYTES = 32
PUBKEY_TEXT_MAX = 50
KID_TEXT_MAX = 44
JWKS_TEXT_MAX = 176
AUDIT_REASON_MAX = 256
TOKEN_MAX = 8192

ENGINE_OPTIONS_VERSION = 1
LOAD_OPTIONS_VERSION = 1
SESSION_OPTIONS_VERSION = 1
DELEGATE_OPTIONS_VERSION = 1
TOKEN_VERIFY_OPTIONS_VERSION = 1
AUDIT_OPTIONS_VERSION = 2
AUDIT_VERIFY_OPTIONS_VERSION = 1
AUDIT_RESULT_VERSION = 1
AUDIT_LOG_ID_TEXT = 33

# Error codes (never reused, so they can be hard-coded).
OK = 0
EINVAL = -1
ENOMEM = -2
EIO = -3
EPOLICY = -4
ENOPOLICY = -5
ENOTASK = -6
EIDENTITY = -7
EPARAM = -8
EJSON = -9
ELIMIT = -10
ESESSION = -11
ENOTFOUND = -12
EDENIED = -13
ECRYPTO = -14
ETOKEN = -15
ESIGNATURE = -16
EEXPIRED = -17
EAUDIENCE = -18
EPERM = -19
EEXIST = -20
EPROVIDER = -21
ETAMPER = -22
EALGORITHM = -23
EKEYID = -24
ETOKENTYPE = -25

EFFECTS = ("deny", "allow", "ask")
APPROVE_ONCE = 1
APPROVE_SESSION = 2
AUDIT_FLUSH = {"none": 0, "record": 1, "every_n": 2}
AUDIT_PROBLEMS = ("intact", "malformed", "truncated", "mac", "seq", "prev", "empty", "end", "engine",
                  "log_id", "signature", "unsigned")


class Error(Structure):
    _fields_ = [
        ("code", c_int),
        ("path", c_char * ERROR_PATH_MAX),
        ("line", c_ulong),
        ("column", c_ulong),
        ("offset", c_size_t),
        ("message", c_char * ERROR_MESSAGE_MAX),
    ]


class SecretRequest(Structure):
    _fields_ = [
        ("secret", c_char_p),
        ("session", c_char_p),
        ("identity", c_char_p),
        ("task", c_char_p),
        ("ttl_ns", c_uint64),
    ]


CLOCK_FN = CFUNCTYPE(c_uint64, c_void_p)
SECRET_ISSUE_FN = CFUNCTYPE(
    c_int, c_void_p, POINTER(SecretRequest), c_void_p, c_size_t, POINTER(c_size_t)
)
SECRET_REVOKE_FN = CFUNCTYPE(None, c_void_p, POINTER(SecretRequest))
DIAG_FN = CFUNCTYPE(None, POINTER(Error), c_int, c_void_p)
AUDIT_FN = CFUNCTYPE(c_int, c_void_p, c_size_t, c_void_p)


class EngineOptions(Structure):
    _fields_ = [
        ("version", c_uint),
        ("clock", CLOCK_FN),
        ("clock_ctx", c_void_p),
        ("wall_clock", CLOCK_FN),
        ("wall_clock_ctx", c_void_p),
        ("keys", c_void_p),
        ("secret_issue", SECRET_ISSUE_FN),
        ("secret_revoke", SECRET_REVOKE_FN),
        ("secret_ctx", c_void_p),
        ("name", c_char_p),
    ]


class LoadOptions(Structure):
    _fields_ = [("version", c_uint), ("on_diag", DIAG_FN), ("ctx", c_void_p)]


class PolicyInfo(Structure):
    _fields_ = [
        ("name", c_char * NAME_MAX),
        ("hash", c_char * 65),
        ("rules", c_size_t),
        ("tasks", c_size_t),
        ("secrets", c_size_t),
        ("identities", c_size_t),
        ("generation", c_uint64),
    ]


class SessionOptions(Structure):
    _fields_ = [("version", c_uint), ("ttl_ns", c_uint64), ("params", c_void_p)]


class Decision(Structure):
    _fields_ = [
        ("effect", c_int),
        ("rule", c_char * NAME_MAX),
        ("reason", c_char * REASON_MAX),
        ("seq", c_uint64),
    ]


class DelegateOptions(Structure):
    _fields_ = [
        ("version", c_uint),
        ("ttl_ns", c_uint64),
        ("params", c_void_p),
        ("tools", POINTER(c_char_p)),
        ("ntools", c_size_t),
        ("secrets", POINTER(c_char_p)),
        ("nsecrets", c_size_t),
    ]


class TokenClaims(Structure):
    _fields_ = [
        ("identity", c_char_p),
        ("task", c_char_p),
        ("session", c_char_p),
        ("audience", c_char_p),
        ("issuer", c_char_p),
        ("parent", c_char_p),
        ("iat", c_int64),
        ("exp", c_int64),
        ("tools", POINTER(c_char_p)),
        ("tools_count", c_size_t),
        ("params", c_char_p),
    ]


class TokenVerifyOptions(Structure):
    _fields_ = [
        ("version", c_uint),
        ("audience", c_char_p),
        ("now", c_int64),
        ("skew", c_uint32),
    ]


class AuditOptions(Structure):
    _fields_ = [
        ("version", c_uint),
        ("path", c_char_p),
        ("flush", c_int),
        ("flush_every", c_size_t),
        ("fsync", c_int),
        ("callback", AUDIT_FN),
        ("ctx", c_void_p),
        ("checkpoint_every", c_size_t),
    ]


class AuditReport(Structure):
    _fields_ = [
        ("problem", c_int),
        ("records", c_uint64),
        ("last_seq", c_uint64),
        ("file", c_size_t),
        ("path", c_char * ERROR_PATH_MAX),
        ("line", c_ulong),
        ("reason", c_char * AUDIT_REASON_MAX),
    ]


class AuditVerifyOptions(Structure):
    _fields_ = [
        ("version", c_uint),
        ("keys", c_void_p),
        ("pubkey", c_void_p),
        ("engine", c_char_p),
        ("expect_last", c_uint64),
    ]


class AuditResult(Structure):
    _fields_ = [
        ("version", c_uint),
        ("report", AuditReport),
        ("schema", c_uint),
        ("signed_seq", c_uint64),
        ("checkpoints", c_uint64),
        ("log_id", c_char * AUDIT_LOG_ID_TEXT),
    ]


P = c_void_p  # every opaque handle travels as a plain pointer
PP = POINTER(c_void_p)
ERR = POINTER(Error)
PK = POINTER(ctypes.c_ubyte * PUBKEY_BYTES)

# name: (restype, argtypes)
_PROTOTYPES: Dict[str, Tuple[Any, List[Any]]] = {
    "agentauthz_strerror": (c_char_p, [c_int]),
    "agentauthz_version": (c_char_p, []),
    "agentauthz_free": (None, [c_void_p]),
    "agentauthz_effect_name": (c_char_p, [c_int]),
    "agentauthz_value_parse_json": (c_int, [c_char_p, c_size_t, PP, ERR]),
    "agentauthz_value_free": (None, [P]),
    "agentauthz_keys_generate": (c_int, [PP, ERR]),
    "agentauthz_keys_load": (c_int, [c_void_p, c_size_t, PP, ERR]),
    "agentauthz_keys_load_file": (c_int, [c_char_p, PP, ERR]),
    "agentauthz_keys_save_file": (c_int, [P, c_char_p, ERR]),
    "agentauthz_keys_public": (c_int, [P, c_void_p, c_size_t]),
    "agentauthz_keys_public_raw": (c_int, [P, PK]),
    "agentauthz_keys_free": (None, [P]),
    "agentauthz_pubkey_parse": (c_int, [c_char_p, PK, ERR]),
    "agentauthz_pubkey_kid": (c_int, [PK, c_void_p, c_size_t]),
    "agentauthz_pubkey_jwks": (c_int, [PK, c_void_p, c_size_t]),
    "agentauthz_keys_jwks": (c_int, [P, c_void_p, c_size_t]),
    "agentauthz_engine_jwks": (c_int, [P, c_void_p, c_size_t]),
    "agentauthz_token_sign": (c_int, [P, POINTER(TokenClaims), PP, ERR]),
    "agentauthz_token_verify": (
        c_int,
        [PK, c_char_p, c_size_t, POINTER(TokenVerifyOptions), POINTER(POINTER(TokenClaims)), ERR],
    ),
    "agentauthz_token_claims_free": (None, [POINTER(TokenClaims)]),
    "agentauthz_verifier_new": (
        c_int,
        [PK, POINTER(TokenVerifyOptions), c_size_t, PP, ERR],
    ),
    "agentauthz_verifier_new_jwks": (
        c_int,
        [c_char_p, c_size_t, POINTER(TokenVerifyOptions), c_size_t, PP, ERR],
    ),
    "agentauthz_verifier_verify": (
        c_int,
        [P, c_char_p, c_size_t, c_int64, POINTER(POINTER(TokenClaims)), ERR],
    ),
    "agentauthz_verifier_revoke": (c_int, [P, c_char_p]),
    "agentauthz_verifier_free": (None, [P]),
    "agentauthz_engine_new": (c_int, [PP, POINTER(EngineOptions), ERR]),
    "agentauthz_engine_free": (None, [P]),
    "agentauthz_engine_load": (
        c_int,
        [P, POINTER(c_char_p), c_size_t, POINTER(LoadOptions), ERR],
    ),
    "agentauthz_engine_load_string": (
        c_int,
        [P, c_char_p, c_char_p, c_size_t, POINTER(LoadOptions), ERR],
    ),
    "agentauthz_engine_policy_info": (c_int, [P, POINTER(PolicyInfo)]),
    "agentauthz_engine_sweep": (c_int, [P, POINTER(c_size_t)]),
    "agentauthz_engine_public_key": (c_int, [P, PK]),
    "agentauthz_engine_set_audit": (c_int, [P, POINTER(AuditOptions), ERR]),
    "agentauthz_engine_audit_reopen": (c_int, [P, ERR]),
    "agentauthz_audit_verify": (
        c_int,
        [P, POINTER(c_char_p), c_size_t, POINTER(AuditReport), ERR],
    ),
    "agentauthz_audit_verify_ext": (
        c_int,
        [POINTER(AuditVerifyOptions), POINTER(c_char_p), c_size_t, POINTER(AuditResult), ERR],
    ),
    "agentauthz_session_open": (
        c_int,
        [P, c_char_p, c_char_p, POINTER(SessionOptions), PP, ERR],
    ),
    "agentauthz_session_revoke": (c_int, [P]),
    "agentauthz_session_close": (None, [P]),
    "agentauthz_session_id": (c_char_p, [P]),
    "agentauthz_session_delegate": (
        c_int,
        [P, c_char_p, c_char_p, POINTER(DelegateOptions), PP, ERR],
    ),
    "agentauthz_action_new": (c_int, [PP]),
    "agentauthz_action_free": (None, [P]),
    "agentauthz_action_reset": (None, [P]),
    "agentauthz_action_set_tool": (c_int, [P, c_char_p]),
    "agentauthz_action_set_resource": (c_int, [P, c_char_p]),
    "agentauthz_action_add_destination": (c_int, [P, c_char_p]),
    "agentauthz_action_set_destinations": (c_int, [P, P, c_size_t]),
    "agentauthz_action_add_label": (c_int, [P, c_char_p]),
    "agentauthz_action_set_payload": (c_int, [P, c_char_p, c_size_t]),
    "agentauthz_action_set_args_json": (c_int, [P, c_char_p, c_size_t, ERR]),
    "agentauthz_check": (c_int, [P, P, POINTER(Decision)]),
    "agentauthz_approve": (c_int, [P, P, c_int]),
    "agentauthz_check_token": (
        c_int,
        [P, P, c_char_p, c_size_t, P, POINTER(Decision), ERR],
    ),
    "agentauthz_lease_acquire": (c_int, [P, P, POINTER(Decision), c_char_p, PP, ERR]),
    "agentauthz_lease_value": (c_void_p, [P, POINTER(c_size_t)]),
    "agentauthz_lease_valid": (c_int, [P]),
    "agentauthz_lease_release": (None, [P]),
    "agentauthz_substitute": (
        c_int,
        [P, P, POINTER(Decision), c_char_p, c_size_t, PP, ERR],
    ),
    "agentauthz_secret_buffer_data": (c_void_p, [P, POINTER(c_size_t)]),
    "agentauthz_secret_buffer_free": (None, [P]),
    "agentauthz_scrub": (
        c_int,
        [P, c_char_p, c_size_t, POINTER(c_void_p), POINTER(c_size_t), ERR],
    ),
    "agentauthz_session_observe": (c_int, [P, P, c_char_p, c_size_t, P, c_size_t, ERR]),
    "agentauthz_session_observe_value": (c_int, [P, P, P, P, c_size_t, ERR]),
}


BUNDLED = "libagentauthz.so.0"
ENV = "AGENTAUTHZ_LIBRARY"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class LibraryNotFoundError(ImportError):
    """No libagentauthz could be loaded; tried lists (path, why) for each attempt."""

    def __init__(self, tried: "List[Tuple[str, str]]") -> None:
        self.tried = list(tried)
        super().__init__(
            "agentauthz: cannot load the libagentauthz shared library. Install a wheel "
            "(which carries it), install the library where the system's loader finds it, or "
            "set %s to the full path of libagentauthz.so.0. Tried: %s"
            % (ENV, "; ".join("%s: %s" % t for t in self.tried)))


def candidates(package_dir: str = PACKAGE_DIR,
               environ: "Optional[Mapping[str, str]]" = None) -> "List[Tuple[str, str]]":
    """The libraries to try, in the documented order, each with where it comes from."""
    env = (os.environ if environ is None else environ).get(ENV)
    out = [(os.path.join(package_dir, BUNDLED), "bundled with the package")]
    if env:
        # An explicit path is the last candidate: falling back silently to
        # another installed copy would test or run the wrong library.
        out.append((env, "$" + ENV))
        return out
    found = ctypes.util.find_library("agentauthz")
    if found:
        out.append((found, "the system's (ctypes.util.find_library)"))
    out.append(("libagentauthz.so.0", "the system's loader path"))
    return out


def load(names: "List[Tuple[str, str]]") -> ctypes.CDLL:
    """The first library of names that loads and has every function the binding calls.

    Raises LibraryNotFoundError naming every path tried and why it failed.
    """
    tried = []
    for name, what in names:
        try:
            found = ctypes.CDLL(name)
        except OSError as exc:
            tried.append(("%s (%s)" % (name, what), str(exc)))
            continue
        try:
            for fn, (restype, argtypes) in _PROTOTYPES.items():
                f = getattr(found, fn)
                f.restype = restype
                f.argtypes = argtypes
        except AttributeError as exc:
            # An older library: calling a missing function later would be worse.
            tried.append(("%s (%s)" % (name, what), "lacks a function (%s)" % exc))
            continue
        return found
    raise LibraryNotFoundError(tried)


def _load() -> "Tuple[Any, str]":
    found = load(candidates())
    return found, found._name


# The functions' types are the prototypes above, which mypy cannot see.
lib: Any
path: str
lib, path = _load()

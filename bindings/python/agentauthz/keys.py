"""Engine keys, task tokens and token verifiers."""

from __future__ import annotations

import ctypes
import json
import os
import threading
from typing import Any, Dict, Iterable, Mapping, Optional, Type, TypeVar, Union

from . import _lib
from . import _util
from . import errors
from ._util import char_pp, check, cstr, optional_cstr

_L = _lib.lib
_PKBuf = ctypes.c_ubyte * _lib.PUBKEY_BYTES
_K = TypeVar("_K", bound="Keys")
# A path argument: str, bytes or os.PathLike.
PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
# A public key: the "azpk1." text, the raw 32 bytes, or Keys.
PublicKey = Union[str, bytes, bytearray, "Keys"]
# A task token's claims, as verify_token and Verifier.verify return them.
Claims = Dict[str, Any]


class Keys(_util.Closing):
    """An engine's keys (signing, master and audit), held in guarded C memory.

    Only the public key is ever visible from Python. Pass a Keys object to
    Engine(keys=...) so that tokens verify across restarts; the engine keeps a
    reference, so the keys live at least as long as the engine.
    """

    __slots__ = ("_h", "_lock", "__weakref__")

    def __init__(self, _handle: ctypes.c_void_p) -> None:
        self._h: Optional[ctypes.c_void_p] = _handle
        self._lock = threading.Lock()

    @classmethod
    def generate(cls: Type[_K]) -> _K:
        """Fresh random keys."""
        h = ctypes.c_void_p()
        err = _lib.Error()
        check(_L.agentauthz_keys_generate(ctypes.byref(h), err), err)
        return cls(h)

    @classmethod
    def load(cls: Type[_K], data: Union[str, bytes, bytearray, memoryview]) -> _K:
        """Keys from the text of a key file (bytes-like or str).

        The library only reads data; the caller should drop or wipe its copy.
        """
        if isinstance(data, str):
            data = data.encode("ascii", "strict")
        buf = (ctypes.c_char * len(data)).from_buffer_copy(data) if len(data) else None
        h = ctypes.c_void_p()
        err = _lib.Error()
        try:
            rc = _L.agentauthz_keys_load(buf, len(data), ctypes.byref(h), err)
        finally:
            if buf is not None:
                ctypes.memset(buf, 0, len(data))
        check(rc, err)
        return cls(h)

    @classmethod
    def load_file(cls: Type[_K], path: PathArg) -> _K:
        """Keys from a key file (mode 0600 or 0400)."""
        h = ctypes.c_void_p()
        err = _lib.Error()
        rc = _L.agentauthz_keys_load_file(cstr(os.fsencode(path), "path"), ctypes.byref(h), err)
        check(rc, err)
        return cls(h)

    def save_file(self, path: PathArg) -> None:
        """Writes a new key file, mode 0600; never replaces an existing file."""
        err = _lib.Error()
        rc = _L.agentauthz_keys_save_file(self._handle(), cstr(os.fsencode(path), "path"), err)
        check(rc, err)

    def _handle(self) -> ctypes.c_void_p:
        if not self._h:
            raise errors.InvalidArgumentError(_lib.EINVAL, "the keys are closed")
        return self._h

    @property
    def public_text(self) -> str:
        """The public key as text, "azpk1.<base64url>"."""
        buf = ctypes.create_string_buffer(_lib.PUBKEY_TEXT_MAX)
        check(_L.agentauthz_keys_public(self._handle(), buf, len(buf)))
        return buf.value.decode("ascii")

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        pk = _PKBuf()
        check(_L.agentauthz_keys_public_raw(self._handle(), ctypes.byref(pk)))
        return bytes(pk)

    @property
    def jwks(self) -> str:
        """The public key as a JWK Set (JSON text) for JWT libraries and gateways."""
        buf = ctypes.create_string_buffer(_lib.JWKS_TEXT_MAX)
        check(_L.agentauthz_keys_jwks(self._handle(), buf, len(buf)))
        return buf.value.decode("ascii")

    @property
    def kid(self) -> str:
        """The key id tokens signed with these keys carry (the RFC 7638 thumbprint)."""
        return key_id(self.public_key)

    def sign_token(self, identity: str, task: str, session: str, audience: str, iat: int,
                   exp: int, tools: Iterable[str] = (), issuer: Optional[str] = None,
                   parent: Optional[str] = None,
                   params: Optional[Mapping[str, Any]] = None) -> str:
        """A signed task token (a JWT, str) for these claims; iat and exp are Unix seconds.

        params is a dict of task parameters for the token's "tctx"."params" (JSON values).
        """
        params_json = None if params is None else json.dumps(params, separators=(",", ":"))
        tool_list = [cstr(t, "tool") for t in tools]
        arr = char_pp(tool_list)
        claims = _lib.TokenClaims(
            cstr(identity, "identity"),
            cstr(task, "task"),
            cstr(session, "session"),
            cstr(audience, "audience"),
            optional_cstr(issuer, "issuer"),
            optional_cstr(parent, "parent"),
            int(iat),
            int(exp),
            ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p)),
            len(tool_list),
            optional_cstr(params_json, "params"),
        )
        out = ctypes.c_void_p()
        err = _lib.Error()
        check(_L.agentauthz_token_sign(self._handle(), ctypes.byref(claims), ctypes.byref(out),
                                       err), err)
        try:
            return ctypes.string_at(out).decode("ascii")
        finally:
            _L.agentauthz_free(out)

    def close(self) -> None:
        """Wipes and frees the keys. An engine using them must be closed first."""
        with self._lock:
            h, self._h = self._h, None
        if h:
            _L.agentauthz_keys_free(h)

    def __repr__(self) -> str:
        if not self._h:
            return "<agentauthz.Keys closed>"
        return "<agentauthz.Keys public=%s>" % self.public_text


def _pubkey(pubkey: PublicKey) -> Any:
    """A 32-byte public key buffer from text, raw bytes or a Keys object."""
    if isinstance(pubkey, Keys):
        pubkey = pubkey.public_key
    pk = _PKBuf()
    if isinstance(pubkey, str):
        err = _lib.Error()
        check(_L.agentauthz_pubkey_parse(cstr(pubkey, "public key"), ctypes.byref(pk), err), err)
        return pk
    raw = bytes(pubkey)
    if len(raw) != _lib.PUBKEY_BYTES:
        raise errors.CryptoError(_lib.ECRYPTO, "a raw public key has exactly 32 bytes")
    ctypes.memmove(pk, raw, len(raw))
    return pk


def key_id(pubkey: PublicKey) -> str:
    """The key id (RFC 7638 JWK thumbprint) of a public key: text, raw bytes or Keys."""
    pk = _pubkey(pubkey)
    buf = ctypes.create_string_buffer(_lib.KID_TEXT_MAX)
    check(_L.agentauthz_pubkey_kid(ctypes.byref(pk), buf, len(buf)))
    return buf.value.decode("ascii")


def jwks(pubkey: PublicKey) -> str:
    """The JWK Set (JSON text) of a public key: text, raw bytes or Keys."""
    pk = _pubkey(pubkey)
    buf = ctypes.create_string_buffer(_lib.JWKS_TEXT_MAX)
    check(_L.agentauthz_pubkey_jwks(ctypes.byref(pk), buf, len(buf)))
    return buf.value.decode("ascii")


def public_key_text(raw: bytes) -> str:
    """The "azpk1." text of a raw 32-byte public key."""
    import base64

    if len(raw) != _lib.PUBKEY_BYTES:
        raise ValueError("a raw public key has exactly 32 bytes")
    return "azpk1." + base64.urlsafe_b64encode(bytes(raw)).decode("ascii").rstrip("=")


def _claims_dict(c: Any) -> Claims:
    def s(v: Optional[bytes]) -> Optional[str]:
        return None if v is None else v.decode("utf-8")

    return {
        "identity": s(c.identity),
        "task": s(c.task),
        "session": s(c.session),
        "audience": s(c.audience),
        "issuer": s(c.issuer),
        "parent": s(c.parent),
        "iat": c.iat,
        "exp": c.exp,
        "tools": [c.tools[i].decode("utf-8") for i in range(c.tools_count)],
        "params": None if c.params is None else json.loads(c.params.decode("utf-8")),
    }


def _take_claims(ptr: Any) -> Claims:
    try:
        return _claims_dict(ptr.contents)
    finally:
        _L.agentauthz_token_claims_free(ptr)


def _token_bytes(token: Union[str, bytes, bytearray]) -> bytes:
    raw = token.encode("utf-8") if isinstance(token, str) else bytes(token)
    return raw


def _verify_options(audience: Optional[str], skew: int, now: int = 0) -> _lib.TokenVerifyOptions:
    if not 0 <= skew <= 86400:
        raise ValueError("skew must be between 0 and 86400 seconds")
    return _lib.TokenVerifyOptions(
        _lib.TOKEN_VERIFY_OPTIONS_VERSION, optional_cstr(audience, "audience"), int(now), skew
    )


def verify_token(pubkey: PublicKey, token: Union[str, bytes, bytearray],
                 audience: Optional[str] = None, skew: int = 60,
                 now: Optional[int] = None) -> Claims:
    """Verifies a task token offline and returns its claims as a dict.

    pubkey is the "azpk1." text, the raw 32 bytes or a Keys object. now is
    Unix seconds (None: the system clock). Raises TokenError (or its
    subclasses SignatureError, ExpiredError, AudienceError, AlgorithmError,
    KeyIdError, TokenTypeError), LimitError for a token over 8192 bytes or
    JSON over bounds, JSONError for a header or payload with a duplicate key.
    The claims: identity (sub), task (scope), session (txn), audience (aud),
    issuer (iss), parent (tctx.parent), iat, exp, tools (tctx.tools) and
    params (tctx.params, a dict, or None).
    """
    pk = _pubkey(pubkey)
    raw = _token_bytes(token)
    opt = _verify_options(audience, skew, now or 0)
    out = ctypes.POINTER(_lib.TokenClaims)()
    err = _lib.Error()
    rc = _L.agentauthz_token_verify(ctypes.byref(pk), raw, len(raw), ctypes.byref(opt),
                                    ctypes.byref(out), err)
    check(rc, err)
    return _take_claims(out)


class Verifier(_util.Closing):
    """A token verifier with a cache and a revocation list (for downstream services)."""

    __slots__ = ("_h", "_lock", "__weakref__")

    def __init__(self, pubkey: Optional[PublicKey] = None, audience: Optional[str] = None,
                 skew: int = 60, cache_entries: int = 1024,
                 jwks: Union[str, Mapping[str, Any], None] = None) -> None:
        """pubkey (text, raw bytes or Keys) or jwks (a JWK Set, JSON text or dict): the keys."""
        if (pubkey is None) == (jwks is None):
            raise TypeError("Verifier needs pubkey or jwks, not both")
        opt = _verify_options(audience, skew)
        self._h: Optional[ctypes.c_void_p] = ctypes.c_void_p()
        self._lock = threading.Lock()
        err = _lib.Error()
        if jwks is not None:
            text = jwks if isinstance(jwks, str) else json.dumps(dict(jwks))
            raw = text.encode("utf-8")
            rc = _L.agentauthz_verifier_new_jwks(raw, len(raw), ctypes.byref(opt), cache_entries,
                                                 ctypes.byref(self._h), err)
        else:
            assert pubkey is not None
            pk = _pubkey(pubkey)
            rc = _L.agentauthz_verifier_new(ctypes.byref(pk), ctypes.byref(opt), cache_entries,
                                            ctypes.byref(self._h), err)
        check(rc, err)

    def _handle(self) -> ctypes.c_void_p:
        if not self._h:
            raise errors.InvalidArgumentError(_lib.EINVAL, "the verifier is closed")
        return self._h

    def verify(self, token: Union[str, bytes, bytearray], now: Optional[int] = None) -> Claims:
        """The token's claims (dict), or a TokenError / SessionEndedError."""
        raw = _token_bytes(token)
        out = ctypes.POINTER(_lib.TokenClaims)()
        err = _lib.Error()
        rc = _L.agentauthz_verifier_verify(self._handle(), raw, len(raw), int(now or 0),
                                           ctypes.byref(out), err)
        check(rc, err)
        return _take_claims(out)

    def revoke(self, session_id: str) -> None:
        """Refuses every later token of that session or of its children."""
        check(_L.agentauthz_verifier_revoke(self._handle(), cstr(session_id, "session id")))

    def close(self) -> None:
        with self._lock:
            h, self._h = self._h, None
        if h:
            _L.agentauthz_verifier_free(h)

    def __repr__(self) -> str:
        return "<agentauthz.Verifier%s>" % ("" if self._h else " closed")

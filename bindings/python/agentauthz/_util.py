"""Small conversions shared by the binding's modules."""

from __future__ import annotations

import ctypes
import json
from types import TracebackType
from typing import Any, Callable, Iterable, List, Mapping, Optional, Type, TypeVar, Union

from . import _lib
from . import errors

_L = _lib.lib

_Self = TypeVar("_Self", bound="Closing")
# What the binding accepts for a C string: text, or bytes as they are.
StrOrBytes = Union[str, bytes, bytearray]



class Closing:
    """Context-manager behaviour of the handles: close on exit and when collected."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone
            pass


class _Encoder(json.JSONEncoder):
    """Compact, strict JSON for arguments and parameters.

    NaN and infinities are not JSON and the library would refuse them, so
    they fail here with a ValueError. Bytes become text (UTF-8, invalid
    sequences replaced) so that policies can match them; tuples are lists.
    Anything else is a TypeError: an argument that cannot be checked must
    not be passed through unchecked.
    """

    def default(self, o: Any) -> Any:
        if isinstance(o, (bytes, bytearray, memoryview)):
            return bytes(o).decode("utf-8", "replace")
        return super().default(o)


_encoder = _Encoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _fast_dumps() -> Callable[[Any], str]:
    """The json module's C encoder, made once rather than on every call.

    JSONEncoder.encode builds a new C encoder per call, a noticeable part of
    a check's cost. Without circular-reference markers, a cyclic argument
    raises RecursionError instead of ValueError; either way it is refused.
    """
    try:
        from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
    except ImportError:
        c_make_encoder = None
    if c_make_encoder is None:
        return _encoder.encode
    enc = c_make_encoder(None, _encoder.default, encode_basestring, None, ":", ",", False,
                         False, False)
    join = "".join

    def dumps(obj: Any) -> str:
        return join(enc(obj, 0))

    return dumps


dumps = _fast_dumps()

# 2**64 - 1 nanoseconds is the largest TTL the C API can carry.
_NS_MAX = (1 << 64) - 1


def cstr(value: object, what: str) -> bytes:
    """value (str or bytes) as NUL-free UTF-8 bytes for a C string argument.

    A NUL byte would silently cut the string short in C, so that a tool named
    "read\\0anything" would be checked as "read": refuse it instead.
    """
    if isinstance(value, str):
        raw = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        raise TypeError("%s must be a str, not %s" % (what, type(value).__name__))
    if b"\0" in raw:
        raise ValueError("%s contains a NUL character" % what)
    return raw


def optional_cstr(value: object, what: str) -> Optional[bytes]:
    return None if value is None else cstr(value, what)


def str_list(values: Union[None, StrOrBytes, Iterable[StrOrBytes]],
             what: str) -> Optional[List[bytes]]:
    """A str or an iterable of str as a list of C strings (None stays None)."""
    if values is None:
        return None
    if isinstance(values, (str, bytes, bytearray)):
        return [cstr(values, what)]
    return [cstr(v, what) for v in values]


def char_pp(items: List[bytes]) -> Any:
    """A ctypes array of char * for items (kept alive by the caller)."""
    arr = (ctypes.c_char_p * max(len(items), 1))()
    for i, item in enumerate(items):
        arr[i] = item
    return arr


def ttl_ns(seconds: Optional[float], what: str = "ttl") -> int:
    """A TTL in seconds as nanoseconds, 0 for None (the library's default)."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError("%s must be a number of seconds" % what)
    if not seconds > 0:
        raise ValueError("%s must be positive" % what)
    ns = int(seconds * 1_000_000_000)
    if ns < 1 or ns > _NS_MAX:
        raise ValueError("%s is out of range" % what)
    return ns


def new_error() -> _lib.Error:
    return _lib.Error()


def check(rc: int, err: Optional[_lib.Error] = None, what: Optional[str] = None) -> None:
    if rc != 0:
        raise errors.from_code(rc, err, what)


class Value:
    """An agentauthz_value parsed from a Python mapping, freed on exit."""

    __slots__ = ("ptr",)

    def __init__(self, obj: Optional[Mapping[str, Any]], what: str) -> None:
        self.ptr = ctypes.c_void_p()
        if obj is None:
            return
        if not isinstance(obj, dict):
            raise TypeError("%s must be a dict" % what)
        text = dumps(obj).encode("utf-8")
        err = _lib.Error()
        rc = _L.agentauthz_value_parse_json(text, len(text), ctypes.byref(self.ptr), err)
        check(rc, err, what)

    def __enter__(self) -> ctypes.c_void_p:
        return self.ptr

    def __exit__(self, *exc: object) -> None:
        _L.agentauthz_value_free(self.ptr)
        self.ptr = ctypes.c_void_p()


def take_string(ptr: Any, length: Optional[int] = None) -> bytes:
    """Copies a library-allocated string out and frees it with agentauthz_free."""
    try:
        if length is None:
            return ctypes.string_at(ptr)
        return ctypes.string_at(ptr, length)
    finally:
        _L.agentauthz_free(ptr)

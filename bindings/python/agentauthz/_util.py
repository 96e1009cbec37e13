"""Small conversions shared by the binding's modules."""

import ctypes
import json

from . import _lib
from . import errors

_L = _lib.lib



class Closing:
    """Context-manager behaviour of the handles: close on exit and when collected."""

    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
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

    def default(self, o):
        if isinstance(o, (bytes, bytearray, memoryview)):
            return bytes(o).decode("utf-8", "replace")
        return super().default(o)


_encoder = _Encoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _fast_dumps():
    """The json module's C encoder, made once rather than on every call.

    JSONEncoder.encode builds a new C encoder per call, a noticeable part of
    a check's cost. Without circular-reference markers, a cyclic argument
    raises RecursionError instead of ValueError; either way it is refused.
    """
    try:
        from json.encoder import c_make_encoder, encode_basestring
    except ImportError:
        c_make_encoder = None
    if c_make_encoder is None:
        return _encoder.encode
    enc = c_make_encoder(None, _encoder.default, encode_basestring, None, ":", ",", False,
                         False, False)
    join = "".join

    def dumps(obj):
        return join(enc(obj, 0))

    return dumps


dumps = _fast_dumps()

# 2**64 - 1 nanoseconds is the largest TTL the C API can carry.
_NS_MAX = (1 << 64) - 1


def cstr(value, what):
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


def optional_cstr(value, what):
    return None if value is None else cstr(value, what)


def str_list(values, what):
    """A str or an iterable of str as a list of C strings (None stays None)."""
    if values is None:
        return None
    if isinstance(values, (str, bytes, bytearray)):
        return [cstr(values, what)]
    return [cstr(v, what) for v in values]


def char_pp(items):
    """A ctypes array of char * for items (kept alive by the caller)."""
    arr = (ctypes.c_char_p * max(len(items), 1))()
    for i, item in enumerate(items):
        arr[i] = item
    return arr


def ttl_ns(seconds, what="ttl"):
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


def new_error():
    return _lib.Error()


def check(rc, err=None, what=None):
    if rc != 0:
        raise errors.from_code(rc, err, what)


class Value:
    """An agentauthz_value parsed from a Python mapping, freed on exit."""

    __slots__ = ("ptr",)

    def __init__(self, obj, what):
        self.ptr = ctypes.c_void_p()
        if obj is None:
            return
        if not isinstance(obj, dict):
            raise TypeError("%s must be a dict" % what)
        text = dumps(obj).encode("utf-8")
        err = _lib.Error()
        rc = _L.agentauthz_value_parse_json(text, len(text), ctypes.byref(self.ptr), err)
        check(rc, err, what)

    def __enter__(self):
        return self.ptr

    def __exit__(self, *exc):
        _L.agentauthz_value_free(self.ptr)
        self.ptr = ctypes.c_void_p()
        return False


def take_string(ptr, length=None):
    """Copies a library-allocated string out and frees it with agentauthz_free."""
    try:
        if length is None:
            return ctypes.string_at(ptr)
        return ctypes.string_at(ptr, length)
    finally:
        _L.agentauthz_free(ptr)

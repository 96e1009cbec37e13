"""The guard decorator: check a tool function's call before it runs."""

import functools
import inspect

from .errors import Denied
from .session import Action, Session


def _call_args(sig, args, kwargs):
    """The call's arguments by parameter name, defaults included.

    Positional arguments are named after their parameters, so that a policy
    sees the same arguments however the function was called; *args become a
    list under their parameter's name and **kwargs are merged in.
    """
    if sig is None:
        return dict(kwargs)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    out = {}
    for name, value in bound.arguments.items():
        kind = sig.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            out[name] = list(value)
        else:
            out[name] = value
    return out


def _raw_payload(call_args):
    """The bytes arguments of a call, joined, as the action's payload.

    In args they are text with invalid UTF-8 replaced, which would hide a
    raw secret from the leak scanner; the payload keeps their exact bytes.
    """
    raw = [bytes(v) for v in call_args.values() if isinstance(v, (bytes, bytearray, memoryview))]
    return b"\n".join(raw) if raw else None


def _field(spec, call_args):
    """resource= / destination= of guard: an argument's name, or a callable."""
    if spec is None:
        return None
    if callable(spec):
        return spec(call_args)
    return call_args.get(spec)


def guard(session, tool=None, on_ask=None, resource=None, destination=None, labels=None,
          scope="once"):
    """Decorates a tool function so that every call is checked first.

    session is a Session, or a callable returning the current one. The check
    names the tool (default: the function's name) and passes the call's
    arguments as args. resource and destination name an argument (or are
    callables of the arguments dict) to pass as the action's resource and
    destination. A deny raises Denied(decision) and the function does not
    run. An ask is a deny too, unless on_ask(decision) returns True: the
    action is then approved (scope "once" or "session") and checked again.
    Works on plain and async functions.
    """

    def decorate(fn):
        name = tool or fn.__name__
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None

        def authorize(args, kwargs):
            s = session if isinstance(session, Session) else session()
            call_args = _call_args(sig, args, kwargs)
            action = Action(name, _field(resource, call_args), _field(destination, call_args),
                            call_args, labels, _raw_payload(call_args))
            decision = s.check(action)
            if decision.effect == "ask" and on_ask is not None and on_ask(decision) is True:
                s.approve(decision, scope=scope)
                decision = s.check(action)
            if not decision:
                raise Denied(decision, name)
            return decision

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                authorize(args, kwargs)
                return await fn(*args, **kwargs)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            authorize(args, kwargs)
            return fn(*args, **kwargs)

        return wrapper

    return decorate

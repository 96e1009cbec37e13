"""The guard decorator: check a tool function's call before it runs."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar, Union, cast

from .errors import Denied
from .session import Action, Decision, Destination, Labels, Session

_F = TypeVar("_F", bound=Callable[..., Any])
# A guard's resource= or destination=: an argument's name, or a function of
# the call's arguments (by name).
FieldSpec = Union[None, str, Callable[[Dict[str, Any]], Any]]


def _call_args(sig: Optional[inspect.Signature], args: Tuple[Any, ...],
               kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The call's arguments by parameter name, defaults included.

    Positional arguments are named after their parameters, so that a policy
    sees the same arguments however the function was called; *args become a
    list under their parameter's name and **kwargs are merged in.
    """
    if sig is None:
        return dict(kwargs)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    out: Dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = sig.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            out[name] = list(value)
        else:
            out[name] = value
    return out


def _raw_payload(call_args: Dict[str, Any]) -> Optional[bytes]:
    """The bytes arguments of a call, joined, as the action's payload.

    In args they are text with invalid UTF-8 replaced, which would hide a
    raw secret from the leak scanner; the payload keeps their exact bytes.
    """
    raw = [bytes(v) for v in call_args.values() if isinstance(v, (bytes, bytearray, memoryview))]
    return b"\n".join(raw) if raw else None


def _field(spec: FieldSpec, call_args: Dict[str, Any]) -> Any:
    """resource= / destination= of guard: an argument's name, or a callable."""
    if spec is None:
        return None
    if callable(spec):
        return spec(call_args)
    return call_args.get(spec)


def guard(session: Union[Session, Callable[[], Session]], tool: Optional[str] = None,
          on_ask: Optional[Callable[[Decision], bool]] = None, resource: FieldSpec = None,
          destination: FieldSpec = None, labels: Labels = None,
          scope: str = "once") -> Callable[[_F], _F]:
    """Decorates a tool function so that every call is checked first.

    session is a Session, or a callable returning the current one. The check
    names the tool (default: the function's name) and passes the call's
    arguments as args. resource and destination name an argument (or are
    callables of the arguments dict) to pass as the action's resource and
    destination. A deny raises Denied(decision) and the function does not
    run. An ask is a deny too, unless on_ask(decision) returns True: the
    action is then approved (scope "once" or "session") and checked again.
    Works on plain and async functions; the decorated function keeps its type.
    """

    def decorate(fn: _F) -> _F:
        name = tool or fn.__name__
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None

        def authorize(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Decision:
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
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                authorize(args, kwargs)
                return await fn(*args, **kwargs)

            return cast(_F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authorize(args, kwargs)
            return fn(*args, **kwargs)

        return cast(_F, wrapper)

    return decorate

"""A method replaced on one object (``response.parse``, ``http_response.close``...), still looking
like the method it replaces.

tracewrap hooks a few methods of the very objects the SDK hands the user (a raw response's
``parse``, its HTTP response's ``close`` / ``aclose`` / ``iter_bytes``...) by setting an attribute of
that object. A plain function there would be what ``inspect.signature(response.parse)``, ``help()``,
``__qualname__`` and ``type()`` report (``(*args, **kwargs)``, ``_hook_lazy_parse.<locals>.parse``,
a function), where bare they report the SDK's bound method. :func:`bound_like` makes the replacement
a bound method of the same object, named, documented and signed as the original.

The ``wrapt`` proxies tracewrap puts in place of the SDK's methods (on its classes, on a client's
resource objects) forward every attribute to the method they wrap, but not ``repr``, which names
the proxy (``<BoundFunctionWrapper at 0x... for method at 0x...>``), and they refuse ``copy.copy``,
``copy.deepcopy`` and ``pickle`` (``NotImplementedError: object proxy must define __copy__()``),
where the SDK's function is copied as itself and pickled by name, and its bound method is copied
and pickled as its object's attribute of that name. :class:`SeenAsWrapped` gives them the SDK's.

``weakref.WeakMethod`` (how blinker and other signal libraries hold a bound method) keeps the
method's ``__func__`` and ``__self__`` weakly and gives the method back as
``type(method)(function, instance)``: a wrapt proxy's class takes other arguments (``TypeError``).
:class:`RebuiltAsMethod` takes those two too.
"""

from __future__ import annotations

import copy
import functools
import sys
import types
from collections.abc import Callable
from typing import Any

import wrapt


def bound_like(function: Callable[..., Any], original: Any) -> Any:
    """``function`` (taking the object first, as a method) bound as ``original``, a bound method,
    is, with ``original``'s name, docstring and signature; anything else than a bound method:
    ``function`` bound to None, as it is."""
    underlying = getattr(original, "__func__", None)
    instance = getattr(original, "__self__", None)
    if not isinstance(original, types.MethodType) or underlying is None or instance is None:
        return functools.partial(function, None)
    try:
        functools.update_wrapper(function, underlying)  # __wrapped__: inspect.signature follows it
    except Exception:  # pragma: no cover - an SDK method that refuses its attributes: only looks differ
        pass
    return types.MethodType(function, instance)


def _class_named_by(function: Any) -> type | None:
    """The class a method's qualified name names in its module (``Completions`` for
    ``Completions.create``), as pickle finds a function by name; None for anything else."""
    module = sys.modules.get(getattr(function, "__module__", None) or "")
    path = str(getattr(function, "__qualname__", "")).split(".")[:-1]
    if module is None or not path or "<locals>" in path:
        return None
    found: Any = module
    for part in path:
        found = getattr(found, part, None)
    return found if isinstance(found, type) else None


class SeenAsWrapped:
    """Mixed into tracewrap's method proxies (before the wrapt class): the wrapped method's repr,
    annotations, copies and pickling."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(self.__wrapped__)  # type: ignore[attr-defined]

    def __reduce_ex__(self, protocol: Any) -> Any:
        wrapped = self.__wrapped__  # type: ignore[attr-defined]
        if isinstance(wrapped, types.MethodType):  # (getattr, (its object, its name)): traced again
            return wrapped.__reduce_ex__(protocol)
        owner = getattr(self, "_self_owner", None)  # a class's method, looked up on the class
        if not isinstance(owner, type):  # wrapt 1.x keeps no owner: the class its name says
            owner = _class_named_by(wrapped)
        if isinstance(owner, type):
            return getattr, (owner, wrapped.__name__)
        return wrapped.__reduce_ex__(protocol)

    def __copy__(self) -> Any:
        wrapped = self.__wrapped__  # type: ignore[attr-defined]
        return copy.copy(wrapped) if isinstance(wrapped, types.MethodType) else self

    def __deepcopy__(self, memo: Any) -> Any:
        wrapped = self.__wrapped__  # type: ignore[attr-defined]
        return copy.deepcopy(wrapped, memo) if isinstance(wrapped, types.MethodType) else self

    # No annotation in the body of a class mixed into a proxy: the class's ``__annotations__`` would
    # be what ``method.__annotations__`` finds (``typing.get_type_hints(method)`` raised NameError),
    # not the method's, which wrapt forwards; and the method's, said here, whatever reads the class.
    @property
    def __annotations__(self) -> Any:  # type: ignore[override]
        return self.__wrapped__.__annotations__  # type: ignore[attr-defined]


def _call_through(wrapped: Any, _instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return wrapped(*args, **kwargs)


class RebuiltAsMethod:
    """Mixed into the proxy classes of tracewrap's traced bound methods (before the wrapt class):
    ``cls(function, instance)``, as ``weakref.WeakMethod`` calls it, is ``instance``'s method of
    that name as tracewrap left it (traced); where that is not ``function`` bound (the instance's
    method was replaced since), ``function`` bound to ``instance`` as it is, as a bound method would
    be rebuilt (its request is still traced, by the request layer). Any other arguments are
    wrapt's (a callable second one is a wrapper: an SDK resource or client is not callable);
    tracewrap's own pass the wrapper by keyword. No annotation in its body:
    :class:`SeenAsWrapped` says why."""

    __slots__ = ()

    # (wrapt builds a class's bound method at every look-up: this Python-level step costs ~0.24 µs
    # there, under wrap(openai); wrap(client)'s methods are built once per resource object)
    def __init__(self, *args, **kwargs):
        if len(args) != 2 or kwargs or callable(args[1]):  # (wrapt's (wrapped, wrapper) is not this)
            super().__init__(*args, **kwargs)
            return
        function, instance = args
        method = getattr(instance, getattr(function, "__name__", ""), None)
        bound = issubclass(type(self), wrapt.BoundFunctionWrapper)  # (isinstance asks the unset proxy)
        if type(method) is type(self) and getattr(method, "__func__", None) is function:
            wrapped, wrapper, enabled = method.__wrapped__, method._self_wrapper, method._self_enabled
            if not bound:
                super().__init__(wrapped, wrapper, enabled)
                return
            # (wrapt 2.x also keeps the class the method was looked up on; 1.x has no such argument)
            owner = getattr(method, "_self_owner", self)
            rest = () if owner is self else (owner,)
            super().__init__(
                wrapped, instance, wrapper, enabled, method._self_binding, method._self_parent, *rest
            )
            return
        plain = types.MethodType(function, instance)
        if bound:
            super().__init__(plain, instance, _call_through, None, "function", None)
        else:
            super().__init__(plain, _call_through)

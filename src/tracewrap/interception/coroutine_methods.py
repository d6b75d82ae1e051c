"""Traced async methods that introspection sees as coroutine functions.

tracewrap installs a ``wrapt.FunctionWrapper`` over an SDK method; such a proxy answers every
attribute it does not define from the method it wraps. Several async SDK methods are not
``async def`` themselves: ``chat.completions.create``, ``images.generate``... are a plain function
(the SDK's ``required_args`` check) over the ``async def``, and
``inspect.iscoroutinefunction(method)`` is False for them even bare. Tools that must know whether a
method is async look one level further, through ``__wrapped__``: LangSmith's ``wrap_openai``
(``langsmith.run_helpers.is_async``) does, and finds the ``async def`` bare. Under tracewrap that
``__wrapped__`` is the SDK's method itself, the plain function, so ``wrap_openai`` took a traced
async method for a sync one: its run ended at once, its output the coroutine.

Calling a traced async method returns a coroutine, as calling the SDK's does, and the
proxies below say so: ``inspect.iscoroutinefunction`` reads the ``__code__`` flags of a function,
or of a method's ``__func__``, and here both report ``CO_COROUTINE`` (the SDK's code object with that
flag added; every other attribute as before). Only what introspection reads changes: a call runs
through the same wrapt proxy and tracewrap wrapper as before, and gets the same result.
"""

from __future__ import annotations

import inspect
from types import CodeType
from typing import Any

import wrapt

from tracewrap.interception.in_place import RebuiltAsMethod, SeenAsWrapped


def coroutine_code(code: CodeType) -> CodeType:
    """``code`` as the code of a coroutine function (itself when it is one)."""
    if code.co_flags & inspect.CO_COROUTINE:
        return code
    return code.replace(co_flags=code.co_flags | inspect.CO_COROUTINE)


class CoroutineFunctionView(wrapt.CallableObjectProxy):
    """A traced async method's ``__func__``: the function it binds, seen as a coroutine function."""

    @property
    def __code__(self) -> CodeType:
        return coroutine_code(self.__wrapped__.__code__)


class ReportsCoroutine(SeenAsWrapped):
    """Mixed into the proxy classes of traced async methods (before the wrapt class). No annotation
    in its body: :class:`SeenAsWrapped` says why."""

    __slots__ = ()

    @property
    def __code__(self) -> CodeType:  # a function (or a method seen through its class)
        return coroutine_code(self.__wrapped__.__code__)  # type: ignore[attr-defined]

    @property
    def __func__(self) -> Any:  # a bound method: what ``inspect`` reads its flags from
        function = self.__wrapped__.__func__  # type: ignore[attr-defined]
        # one view per method, kept by the proxy that lives as long as the method (the class's, for a
        # class's method bound anew at each look-up): ``weakref.WeakMethod`` holds it weakly
        parent = getattr(self, "_self_parent", None)
        keeper = self if parent is None else parent
        view = getattr(keeper, "_self_function_view", None)
        if view is None or view.__wrapped__ is not function:
            view = CoroutineFunctionView(function)
            keeper._self_function_view = view
        return view


class BoundAsyncMethod(RebuiltAsMethod, ReportsCoroutine, wrapt.BoundFunctionWrapper):
    """What a class's traced async method (``wrap(openai)``) gives when looked up on an instance."""

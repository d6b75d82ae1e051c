"""Which calls LangChain already records in LangSmith, so tracewrap's LangSmith export sends no
second run for them.

With LangSmith tracing on, LangChain's tracer (``LangChainTracer``) sends an ``llm`` run for every
chat model or LLM call. The OpenAI request made inside is traced by tracewrap too, and a second
``llm`` run would make LangSmith count its tokens twice. LangSmith's own context cannot tell:
its current run there is the enclosing chain, not LangChain's ``llm`` run.

So tracewrap looks at the tracer itself. When ``LangChainTracer`` starts an ``llm`` run, a context
variable is pointed at that run: the tracer's run id and a weak reference to the tracer. The tracer
runs inline (``run_inline``), in the model call's own context, sync and async. The run counts as
open while it is in the tracer's ``run_map``, which LangChain empties when it ends or fails the run.
A call made while one is open belongs to LangChain's run (:func:`recorded_by_langchain`). Its
OpenTelemetry span is made as ever.

Nothing is kept past a run but that small marker in its context. The patch is made by ``wrap()`` and
auto-instrumentation once ``langchain_core``'s tracer module is imported, whether LangSmith export
is on or not: it costs a context variable's ``set`` per model run LangChain traces.
"""

from __future__ import annotations

import weakref
from contextvars import ContextVar
from typing import Any

from tracewrap.fork_safe import module_lock

_lock = module_lock(globals(), "_lock")
_hook_registered = False

# LangChain's latest llm run started in this context: (its tracer, weakly; the run id as the
# tracer's run_map keys it)
_model_run: ContextVar[tuple[weakref.ref[Any], str] | None] = ContextVar(
    "tracewrap_langchain_model_run", default=None
)


def recorded_by_langchain() -> bool:
    """Whether a call starting now is made inside an ``llm`` run LangChain's tracer has open."""
    marked = _model_run.get()
    if marked is None:
        return False
    tracer_ref, run_id = marked
    tracer = tracer_ref()
    run_map = getattr(tracer, "run_map", None)
    return isinstance(run_map, dict) and run_id in run_map


def watch_langchain_runs() -> None:
    """Mark LangChain's ``llm`` runs once ``langchain_core``'s tracer module is imported (now, if it
    already is); idempotent."""
    global _hook_registered
    with _lock:
        if _hook_registered:
            return
        _hook_registered = True
    import wrapt

    wrapt.register_post_import_hook(_on_tracer_import, "langchain_core.tracers.langchain")


def _on_tracer_import(module: Any) -> None:
    from tracewrap.telemetry.lifecycle import internal_error

    try:
        import wrapt

        tracer_class = getattr(module, "LangChainTracer", None)
        # on_llm_start is the base tracer's; wrapping it by this path patches LangChainTracer alone
        for method in ("on_chat_model_start", "on_llm_start"):
            if callable(getattr(tracer_class, method, None)):  # a LangChain without it: two runs, as before
                wrapt.wrap_function_wrapper(module, f"LangChainTracer.{method}", _mark_model_run)
    except Exception as exc:  # never fail the application's import of langchain
        internal_error("langchain integration", exc)


def _mark_model_run(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    run = wrapped(*args, **kwargs)
    run_id = kwargs.get("run_id")  # keyword-only in LangChain's callbacks
    if run_id is not None and instance is not None:
        try:
            _model_run.set((weakref.ref(instance), str(run_id)))
        except Exception as exc:  # the tracer's own work is done: only the mark is lost
            from tracewrap.telemetry.lifecycle import internal_error

            internal_error("langchain integration", exc)
    return run

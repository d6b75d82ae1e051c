"""Integrations with libraries built on the openai SDK: installed by ``wrap()`` and auto-instrumentation.

:func:`install_agents_tracing` adds tracewrap's tracing processor to the OpenAI Agents SDK
(``openai-agents``, import name ``agents``) as soon as that package is imported, so a run becomes
one trace of agent, tool, handoff and guardrail spans around the model-call spans tracewrap
already makes. ``TRACEWRAP_AGENTS=false`` turns it off.

:func:`~tracewrap.integrations.langchain.watch_langchain_runs` marks the ``llm`` runs LangChain's
own tracer sends to LangSmith, so the calls made in them get no second LangSmith run from tracewrap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracewrap.environment import agents_tracing_enabled
from tracewrap.fork_safe import module_lock

if TYPE_CHECKING:
    from tracewrap.options import TraceOptions


_lock = module_lock(globals(), "_lock")
_hook_registered = False
_options: TraceOptions | None = None


def agents_options() -> TraceOptions | None:
    """The options agent spans are made with: those of the latest ``wrap()`` / ``instrument()``."""
    return _options


def install_integrations(options: TraceOptions) -> None:
    """What ``wrap()`` and auto-instrumentation install beside the SDK's patches, each at its
    package's import: the Agents SDK's tracing processor, the watch on LangChain's own runs."""
    from tracewrap.integrations.langchain import watch_langchain_runs

    install_agents_tracing(options)
    watch_langchain_runs()


def install_agents_tracing(options: TraceOptions) -> bool:
    """Trace OpenAI Agents SDK runs once ``agents`` is imported (now, if it already is); idempotent.

    The processor is *added* beside the SDK's own (OpenAI's export stays as the SDK configures it).
    Agent spans use the tracer, content capture, size limit and redact hook of the latest call of
    this function. Returns False when ``TRACEWRAP_AGENTS=false``.
    """
    global _hook_registered, _options
    if not agents_tracing_enabled():
        return False
    _options = options
    with _lock:
        if _hook_registered:
            return True
        _hook_registered = True
    import wrapt

    wrapt.register_post_import_hook(_on_agents_import, "agents")
    return True


def _on_agents_import(module: Any) -> None:
    from tracewrap.telemetry.lifecycle import internal_error

    try:
        from tracewrap.integrations.openai_agents import register

        register(module)
    except Exception as exc:  # never fail the application's import of agents
        internal_error("agents integration", exc)

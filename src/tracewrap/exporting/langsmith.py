"""Each traced call as a LangSmith run shaped like ``langsmith.wrappers.wrap_openai``'s, sent through
the real ``langsmith.Client``.

A :class:`~tracewrap.observers.CallObserver`: ``on_start`` runs in the caller's context, so it can
read LangSmith's own context there, once per call, as ``@traceable`` (and so ``wrap_openai``) reads
it: whether tracing is on (``tracing_context(enabled=...)``, ``langsmith.configure(enabled=...)``),
the enclosing run, the project, tags and metadata; and the active OTel span. A call's run is sent
once, when it ends (one ``post``). A stream's run is posted when its request is sent (an async
stream's at its first chunk) and patched when it ends, so a long stream is visible while it runs,
as with LangSmith's wrapper. The client's background threads batch both into ``/runs/multipart``;
nothing here waits on the network.

A call ``wrap_openai`` already makes a run for gets no second run: LangSmith would count its tokens
twice. Its ``llm`` run is LangSmith's current run when the call starts (wrap_openai's wrapper
outside tracewrap's) or when the SDK sends the request (``on_send``: tracewrap's wrapper outside);
for an async stream, only while the stream is read, so an async stream's run is posted at its first
chunk (``on_first_chunk``), once that is known. Nor does a call that a LangChain chat model makes
while LangChain traces to LangSmith get a run of ours (:mod:`tracewrap.integrations.langchain`).

Names, run types, inputs, outputs and ``ls_*`` metadata follow ``wrap_openai`` (see
:mod:`.langsmith_runs` and the README's LangSmith section for what differs on purpose).
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from opentelemetry import trace

from tracewrap import environment
from tracewrap.exporting import langsmith_runs as runs
from tracewrap.exporting.langsmith_client import (
    close_bounded,
    flush_bounded,
    new_client,
    release_default_client,
    repair_after_fork,
    share_as_default_client,
)
from tracewrap.integrations.langchain import recorded_by_langchain
from tracewrap.observers import ObservedCall
from tracewrap.routes import API_CALL
from tracewrap.telemetry.attributes import span_name

# operation -> (run type, ls_model_type, which name setting)
_KINDS: dict[str, tuple[str, str | None, str]] = {
    "chat": ("llm", "chat", "chat"),
    "fetch_response": ("llm", "chat", "chat"),
    "cancel_response": ("llm", "chat", "chat"),
    "text_completion": ("llm", "llm", "completions"),
    "embeddings": ("embedding", None, "embeddings"),
}
# wrap_openai's default names (it has none for embeddings: LangChain's class name is used)
_DEFAULT_NAMES = {
    False: {"chat": "ChatOpenAI", "completions": "OpenAI", "embeddings": "OpenAIEmbeddings"},
    True: {"chat": "AzureChatOpenAI", "completions": "AzureOpenAI", "embeddings": "AzureOpenAIEmbeddings"},
}


@dataclass(frozen=True)
class LangSmithSettings:
    """LangSmith's options: from ``configure()``'s environment (:func:`langsmith_settings`)."""

    project: str | None
    hide_inputs: bool
    hide_outputs: bool
    # run names; None: LangSmith's wrapper's defaults (ChatOpenAI, OpenAI; Azure* for Azure)
    chat_name: str | None = None
    completions_name: str | None = None
    embeddings_name: str | None = None


def langsmith_settings() -> LangSmithSettings:
    return LangSmithSettings(**environment.langsmith_settings_from_env())  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class _Parent:
    run: Any  # the enclosing langsmith RunTree
    start_time: datetime


@dataclass(slots=True)
class _Started:
    parent: _Parent | None
    otel_trace_id: str | None
    otel_span_id: str | None
    project: str | None = None  # a root run's project, from LangSmith's context (None: the settings')
    client: Any = None  # the application's langsmith client for a root run (None: tracewrap's own)
    tags: list[str] | None = None  # LangSmith's context tags, as a @traceable run gets them
    metadata: dict[str, Any] | None = None  # LangSmith's context metadata, under the run's own
    run: Any = None  # a stream's run, posted when its request is sent (an async one's at its first chunk)


# a call LangSmith's own switch turns off, or one wrap_openai makes the run for: no run
_NO_RUN = object()


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


# set by tracewrap.integrations.openai_agents: the run of the agent a model call is made for, if any
agent_parent: Callable[[], Any] | None = None


class _LangSmithContext:
    """langsmith's readers, imported once: ``get_tracing_context`` / ``get_current_run_tree`` (public)
    and the module holding what ``langsmith.configure()`` set process-wide (private: read with
    ``getattr``, so a langsmith without it reads as nothing configured)."""

    __slots__ = ("configured", "current_run", "read", "run_trees")

    def __init__(self) -> None:
        from langsmith import run_trees
        from langsmith.run_helpers import get_current_run_tree, get_tracing_context

        self.run_trees = run_trees  # its default client (private, read with getattr): configure(client=...)'s
        self.read: Callable[[], Mapping[str, Any]] = get_tracing_context
        self.current_run: Callable[[], Any] = get_current_run_tree
        try:
            from langsmith._internal import _context as configured
        except ImportError:
            configured = None
        self.configured: Any = configured

    def configured_value(self, name: str) -> Any:
        return getattr(self.configured, name, None)


_langsmith_context: _LangSmithContext | None = None


def _langsmith() -> _LangSmithContext:
    global _langsmith_context
    if _langsmith_context is None:
        _langsmith_context = _LangSmithContext()
    return _langsmith_context


def _current_parent(current: Any) -> _Parent | None:
    """The run a call's run is the child of: the agent's it is made for, else LangSmith's current.
    LangSmith's current run wins where it lies inside the agent's (a ``@traceable`` function called
    in a tool, whose runs nest under the tool's run): the call is made inside it."""
    if agent_parent is not None:
        run = agent_parent()
        if run is not None and not _inside(current, run):
            return _Parent(run=run, start_time=run.start_time)
    if current is None:
        return None
    return _Parent(run=current, start_time=current.start_time)


def _inside(run: Any, ancestor: Any) -> bool:
    """Whether ``run`` is a descendant of ``ancestor``: its dotted order extends the ancestor's."""
    if run is None or run is ancestor:
        return False
    order, above = getattr(run, "dotted_order", None), getattr(ancestor, "dotted_order", None)
    return isinstance(order, str) and isinstance(above, str) and order.startswith(above + ".")


def _sends(enabled: Any) -> bool:
    """LangSmith's switch, as ``@traceable`` reads it: a run is sent only when it is ``True``; None is
    unset (tracewrap's own configuration decides: on); ``False`` and ``"local"`` send nothing."""
    return enabled is None or enabled is True


@dataclass(slots=True)
class RunContext:
    """What LangSmith's context gives a run that starts now (:func:`run_context`)."""

    current: Any  # LangSmith's current run (an enclosing ``@traceable`` function's), None: none
    project: str | None  # where a root run goes (None: tracewrap's settings, LANGSMITH_PROJECT)
    tags: list[str] | None
    metadata: dict[str, Any] | None  # under the run's own keys; never @traceable's ``ls_method``
    # the client the application chose (``tracing_context(client=...)``, ``langsmith.configure(
    # client=...)``), None: none
    client: Any = None


def run_context() -> RunContext | None:
    """LangSmith's context for a run starting now, read once, as ``@traceable`` (and so
    ``wrap_openai``) reads it; None: LangSmith's switch says no run.

    The switch: ``tracing_context(enabled=...)``, else (no current run) ``langsmith.configure(
    enabled=...)``, the order ``langsmith.utils.tracing_is_enabled`` reads. The project: the
    context's (``tracing_context(project_name=...)``), else ``configure()``'s. Tags and metadata:
    the context's (``tracing_context``'s, an enclosing ``@traceable`` function's), else
    ``configure()``'s; ``ls_method`` left out, the ``@traceable`` parent's own mark. Used by every
    run tracewrap sends: a call's (:meth:`LangSmithObserver.on_start`) and an agent run's
    (:func:`tracewrap.integrations.agents_langsmith.start_run`)."""
    ls = _langsmith()
    context = ls.read()
    current = context.get("parent")
    enabled = context.get("enabled")
    if enabled is None and current is None:
        enabled = ls.configured_value("_GLOBAL_TRACING_ENABLED")
    if not _sends(enabled):
        return None
    project = context.get("project_name") or ls.configured_value("_GLOBAL_PROJECT_NAME")
    tags = context.get("tags") or ls.configured_value("_GLOBAL_TAGS")
    metadata = context.get("metadata") or ls.configured_value("_GLOBAL_METADATA")
    return RunContext(
        current,
        project or None,
        list(tags) if tags else None,
        {k: v for k, v in metadata.items() if k != "ls_method"} if metadata else None,
        context.get("client") or getattr(ls.run_trees, "_CLIENT", None),
    )


def chosen_client(parent_run: Any, context_client: Any, own: Any) -> Any:
    """The langsmith client a run goes through, as ``@traceable`` picks it: its parent run's
    (``@traceable(client=...)``), else the one LangSmith's context names (``tracing_context(client=
    ...)``, ``langsmith.configure(client=...)``), else tracewrap's ``own``. Through tracewrap's own, a
    child landed away from its parent and the application client's anonymizer was passed by."""
    if parent_run is not None:
        parent_client = getattr(parent_run, "ls_client", None)
        if parent_client is not None:
            return parent_client
    return context_client if context_client is not None else own


# ls_model_type values LangSmith's OpenAI wrapper sets (chat, legacy completions)
_WRAPPER_MODEL_TYPES = ("chat", "llm")


def made_by_wrap_openai(run: Any, kwargs: Mapping[str, Any]) -> bool:
    """Whether ``run`` is the ``llm`` run ``langsmith.wrappers.wrap_openai`` opened for this very call.

    wrap_openai runs the SDK method inside ``@traceable(run_type="llm")``, so its run is LangSmith's
    current run while the SDK method runs: still open, run type ``llm``, metadata ``ls_method``
    ``traceable`` (``@traceable``'s mark) with the ``ls_provider`` and ``ls_model_type`` its
    invocation params add, and the call's ``model`` among its inputs. Its name is not looked at
    (``chat_name`` / ``completions_name`` change it). A run of the application's own
    ``@traceable(run_type="llm")`` function is taken for it only if it carries all of these too.
    """
    if getattr(run, "run_type", None) != "llm" or getattr(run, "end_time", None) is not None:
        return False
    extra = getattr(run, "extra", None)
    metadata = extra.get("metadata") if isinstance(extra, Mapping) else None
    if not isinstance(metadata, Mapping) or metadata.get("ls_method") != "traceable":
        return False
    if metadata.get("ls_model_type") not in _WRAPPER_MODEL_TYPES or not metadata.get("ls_provider"):
        return False
    inputs = getattr(run, "inputs", None)
    return isinstance(inputs, Mapping) and inputs.get("model") == kwargs.get("model")


def _otel_ids(call: ObservedCall) -> tuple[str | None, str | None]:
    """The call's own span ids, or the active span's when tracewrap's span is not recorded."""
    for span in (call.span, trace.get_current_span()):
        context = span.get_span_context()
        if context.is_valid:
            return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)
    return None, None


class LangSmithObserver:
    """Sends runs; ``close()`` (bounded) at shutdown. Re-creates its own client in a forked child.

    The client it creates itself also becomes langsmith's default client when the application has
    none yet, so the application's own ``@traceable`` runs share its daemon threads and bounded
    exit; it is handed back (unset) at ``close()``.
    """

    def __init__(self, settings: LangSmithSettings, client: Any = None) -> None:
        self.settings = settings
        self._owns_client = client is None
        if client is None:
            client = new_client(settings.hide_inputs, settings.hide_outputs)
        self.client = client
        self._shared = self._owns_client and share_as_default_client(client)
        # inputs come from the call's arguments; the record's content is needed for a streamed
        # chat answer (folded as it passes), so it is read unless outputs are hidden
        self.wants_content = not settings.hide_outputs
        self._closed = False
        # the application's clients a run went through (chosen_client): flushed with ours, never closed
        self._others: weakref.WeakSet[Any] = weakref.WeakSet()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        if self._closed:
            return
        repair_after_fork()
        if self._owns_client:
            # the parent's sender threads do not exist in the child: queued runs would never leave
            old, self.client = self.client, new_client(self.settings.hide_inputs, self.settings.hide_outputs)
            if self._shared:
                release_default_client(old)
                self._shared = share_as_default_client(self.client)

    # ------------------------------------------------------------------ observer hooks

    def on_start(self, call: ObservedCall) -> None:
        if call.record.operation == API_CALL:  # files, batches...: not a model run (a span only)
            return
        context = run_context()  # once per call: LangSmith's switch, current run, project, tags, metadata
        if (
            context is None
            or (context.current is not None and made_by_wrap_openai(context.current, call.kwargs))
            or recorded_by_langchain()
        ):
            call.state[id(self)] = _NO_RUN
            return
        trace_id, span_id = _otel_ids(call)
        started = _Started(_current_parent(context.current), trace_id, span_id)
        if started.parent is None:  # a child goes to its parent's project, and through its client
            started.project = context.project
            started.client = context.client
        started.tags = context.tags
        started.metadata = context.metadata
        call.state[id(self)] = started

    def on_send(self, call: ObservedCall) -> None:
        started = call.state.get(id(self))
        if not isinstance(started, _Started) or self._wrap_openai_run_current(call, started):
            return
        if call.kwargs.get("stream") is True and not call.is_async:
            self._post_stream_run(call, started)

    def on_first_chunk(self, call: ObservedCall) -> None:
        # an async stream's: wrap_openai makes its run current only while the stream is read
        started = call.state.get(id(self))
        if not isinstance(started, _Started) or started.run is not None:
            return
        if not self._wrap_openai_run_current(call, started) and call.kwargs.get("stream") is True:
            self._post_stream_run(call, started)

    def _wrap_openai_run_current(self, call: ObservedCall, started: _Started) -> bool:
        """Whether LangSmith's current run, opened since the call started, is the one wrap_openai
        makes for it (it then has no run of ours)."""
        current = _langsmith().current_run()
        if current is None or (started.parent is not None and current is started.parent.run):
            return False
        if not made_by_wrap_openai(current, call.kwargs):
            return False
        call.state[id(self)] = _NO_RUN
        return True

    def _post_stream_run(self, call: ObservedCall, started: _Started) -> None:
        started.run = self._new_run(call, started)
        started.run.post()  # serialised and queued: visible while the stream runs

    def on_end(self, call: ObservedCall) -> None:
        if call.record.operation == API_CALL:
            return
        started: _Started | None = call.state.pop(id(self), None)
        if started is _NO_RUN:
            return
        if started is not None and started.run is not None:
            self._finish_run(started.run, call)
            started.run.patch()
            return
        self.build_run(call, started).post()  # serialised and queued; the client's threads send it

    # ------------------------------------------------------------------ runs

    def run_name(self, call: ObservedCall) -> str:
        record = call.record
        kind = _KINDS.get(record.operation)
        if kind is None:
            return span_name(record)  # a path tracewrap has no endpoint for: its span's name
        chosen = getattr(self.settings, f"{kind[2]}_name", None)
        return chosen or _DEFAULT_NAMES[record.provider.startswith("azure")][kind[2]]

    def build_run(self, call: ObservedCall, started: _Started | None) -> Any:
        """The whole run of a call that has ended (not yet sent)."""
        run = self._new_run(call, started)
        self._finish_run(run, call)
        return run

    def _new_run(self, call: ObservedCall, started: _Started | None) -> Any:
        from langsmith.run_trees import RunTree

        record = call.record
        run_type, model_type, _ = _KINDS.get(record.operation, ("llm", "chat", "chat"))
        start = _utc(call.start_time_ns)
        parent = started.parent if started is not None else None
        # as @traceable composes a run's metadata: LangSmith's context's, then the run's own
        metadata: dict[str, Any] = dict(started.metadata) if started is not None and started.metadata else {}
        if parent is None:
            metadata["ls_agent_type"] = "root"  # as LangSmith's wrappers tag a trace's root
        metadata.update(runs.ls_metadata(record, call.kwargs, model_type))
        if started is not None and started.otel_trace_id:
            metadata["otel_trace_id"] = started.otel_trace_id
            metadata["otel_span_id"] = started.otel_span_id
        tree_args: dict[str, Any] = {}
        if started is not None and started.tags:
            tree_args["tags"] = list(started.tags)
        client = chosen_client(
            parent.run if parent is not None else None,
            started.client if started is not None else None,
            self.client,
        )
        if client is not self.client:
            try:
                self._others.add(client)
            except TypeError:  # (a client without weak references: its owner flushes it)
                pass
        if parent is not None:
            start = max(start, parent.start_time)  # dotted_order needs a child to start after its parent
            tree_args["parent_run"] = parent.run
            if parent.run.session_name:
                tree_args["project_name"] = parent.run.session_name  # the child lands beside its parent
        else:
            project = (started.project if started is not None else None) or self.settings.project
            if project:
                tree_args["project_name"] = project
        # RunTree derives id, trace_id and dotted_order the way LangSmith expects them
        return RunTree(
            name=self.run_name(call),
            run_type=run_type,
            start_time=start,
            inputs=runs.inputs(call.kwargs, self.settings.hide_inputs, call.redact),
            extra={"metadata": metadata, "invocation_params": runs.invocation_params(record)},
            ls_client=client,
            **tree_args,
        )

    def _finish_run(self, run: Any, call: ObservedCall) -> None:
        record = call.record
        end = _utc(call.end_time_ns or call.start_time_ns)
        run.end_time = max(end, run.start_time)
        run.outputs = runs.outputs(
            record,
            call.response,
            self.settings.hide_outputs,
            call.redact,
            embeddings=record.operation == "embeddings",
        )
        run.error = runs.error(record)
        run.events = self._events(call, run.start_time)
        run.extra["metadata"].update(runs.end_metadata(record))
        run.extra["invocation_params"] = runs.invocation_params(record)  # now with what streams added

    @staticmethod
    def _events(call: ObservedCall, start: datetime) -> list[dict[str, Any]]:
        record = call.record
        first_ns = call.first_chunk_time_ns
        if first_ns is None and record.time_to_first_chunk is not None:
            first_ns = call.start_time_ns + int(record.time_to_first_chunk * 1e9)
        if first_ns is None:
            return []
        first = max(_utc(first_ns), start)
        return [{"name": "new_token", "time": first.isoformat()}]

    # ------------------------------------------------------------------ shutdown

    def flush(self, timeout: float) -> bool:
        return self._flush_others(flush_bounded(self.client, timeout), time.monotonic() + timeout)

    def close(self, timeout: float) -> bool:
        self._closed = True
        deadline = time.monotonic() + timeout
        if not self._owns_client:
            done = flush_bounded(self.client, timeout)  # the application's client: flush, never stop it
        else:
            if self._shared:
                release_default_client(self.client)
            done = close_bounded(self.client, timeout)
        return self._flush_others(done, deadline)

    def _flush_others(self, done: bool, deadline: float) -> bool:
        """The application's clients that sent runs of ours, flushed in what is left until ``deadline``."""
        for client in list(self._others):
            done = flush_bounded(client, max(0.0, deadline - time.monotonic())) and done
        return done

"""Each traced call as a LangSmith ``llm`` run, sent through the real ``langsmith.Client``.

A :class:`~tracewrap.observers.CallObserver`: ``on_start`` runs in the caller's context, so it can
find the enclosing ``@traceable`` run and the active OTel span; ``on_end`` builds the whole run
and hands it to the client once (one ``post`` op, no ``patch``), whose background threads batch
it into ``/runs/multipart``. Nothing here touches the network on the call path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from opentelemetry import trace

from tracewrap.exporting import langsmith_runs as runs
from tracewrap.exporting.langsmith_client import close_bounded, flush_bounded, new_client, repair_after_fork
from tracewrap.exporting.settings import LangSmithSettings
from tracewrap.observers import ObservedCall
from tracewrap.telemetry.attributes import span_name

logger = logging.getLogger("tracewrap")


@dataclass(frozen=True, slots=True)
class _Parent:
    run: Any  # the enclosing langsmith RunTree
    start_time: datetime


@dataclass(frozen=True, slots=True)
class _Started:
    parent: _Parent | None
    otel_trace_id: str | None
    otel_span_id: str | None


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


# set by tracewrap.integrations.openai_agents: the run of the agent a model call is made for, if any
agent_parent: Callable[[], Any] | None = None


def _current_parent() -> _Parent | None:
    if agent_parent is not None:
        run = agent_parent()
        if run is not None:
            return _Parent(run=run, start_time=run.start_time)
    try:
        from langsmith.run_helpers import get_current_run_tree
    except ImportError:
        return None
    run = get_current_run_tree()
    if run is None:
        return None
    return _Parent(run=run, start_time=run.start_time)


def _otel_ids(call: ObservedCall) -> tuple[str | None, str | None]:
    """The call's own span ids, or the active span's when tracewrap's span is not recorded."""
    for span in (call.span, trace.get_current_span()):
        context = span.get_span_context()
        if context.is_valid:
            return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)
    return None, None


class LangSmithObserver:
    """Sends runs; ``close()`` (bounded) at shutdown. Re-creates its own client in a forked child."""

    def __init__(self, settings: LangSmithSettings, client: Any = None) -> None:
        self.settings = settings
        self._owns_client = client is None
        if client is None:
            client = new_client(settings.hide_inputs, settings.hide_outputs)
        self.client = client
        # prompts and outputs are read for us even with OTel content capture off, unless both are hidden
        self.wants_content = not (settings.hide_inputs and settings.hide_outputs)
        self._closed = False
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        if self._closed:
            return
        repair_after_fork()
        if self._owns_client:
            # the parent's sender threads do not exist in the child: queued runs would never leave
            self.client = new_client(self.settings.hide_inputs, self.settings.hide_outputs)

    def on_start(self, call: ObservedCall) -> None:
        trace_id, span_id = _otel_ids(call)
        call.state[id(self)] = _Started(_current_parent(), trace_id, span_id)

    def on_end(self, call: ObservedCall) -> None:
        started: _Started | None = call.state.pop(id(self), None)
        self.build_run(call, started).post()  # serialised and queued; the client's threads send it

    def build_run(self, call: ObservedCall, started: _Started | None) -> Any:
        from langsmith.run_trees import RunTree

        record = call.record
        start = _utc(call.start_time_ns)
        end = _utc(call.end_time_ns or call.start_time_ns)
        metadata = runs.metadata(record)
        if started is not None and started.otel_trace_id:
            metadata["otel_trace_id"] = started.otel_trace_id
            metadata["otel_span_id"] = started.otel_span_id
        parent = started.parent if started is not None else None
        tree_args: dict[str, Any] = {}
        if parent is not None:
            start = max(start, parent.start_time)  # dotted_order needs a child to start after its parent
            tree_args["parent_run"] = parent.run
            if parent.run.session_name:
                tree_args["project_name"] = parent.run.session_name  # the child lands beside its parent
        elif self.settings.project:
            tree_args["project_name"] = self.settings.project
        # RunTree derives id, trace_id and dotted_order the way LangSmith expects them
        return RunTree(
            name=span_name(record),
            run_type="llm",
            start_time=start,
            end_time=max(end, start),
            inputs=runs.inputs(record, self.settings.hide_inputs),
            outputs=runs.outputs(record, self.settings.hide_outputs),
            error=runs.error(record),
            extra={"metadata": metadata, "invocation_params": runs.invocation_params(record)},
            events=self._events(call, start),
            ls_client=self.client,
            **tree_args,
        )

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

    def flush(self, timeout: float) -> bool:
        return flush_bounded(self.client, timeout)

    def close(self, timeout: float) -> bool:
        self._closed = True
        if self._owns_client:
            return close_bounded(self.client, timeout)
        return flush_bounded(self.client, timeout)  # the application's client: flush, never stop it

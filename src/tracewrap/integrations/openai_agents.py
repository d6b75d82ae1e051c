"""OpenAI Agents SDK runs as OpenTelemetry spans: a tracing processor added beside the SDK's own.

Mapping (GenAI agent conventions; the SDK type in brackets):

* a trace (one ``Runner.run`` / ``run_sync`` / ``run_streamed``, or the user's ``agents.trace()``)
  -> ``invoke_workflow {workflow name}``, the root, a child of the OTel context current at its start;
* [agent] -> ``invoke_agent {agent name}``; [function] -> ``execute_tool {tool name}``;
  [handoff] -> ``handoff {from} -> {to}``; [guardrail] -> ``guardrail {name}`` (tripped or not);
  [custom] and [mcp_tools] -> a span of their name;
* [task], [turn], [response], [generation] and the voice spans make no span: what starts under
  them hangs under their nearest mapped ancestor. The model call itself is the span tracewrap
  makes of the real SDK call (``chat {model}``): :func:`_parent_of_call` hands ``lifecycle.start``
  the running agent's span as explicit parent, so it nests there with its usage counted once.

Nothing is attached to the OTel context except around a function tool's body (so the tool's own
spans nest under ``execute_tool``), and that only detaches in the context it attached in; every
other parent is passed explicitly. The processor is called synchronously by the SDK in the
running task; anything called from inside a garbage-collection pass is deferred.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.semconv.attributes import error_attributes
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracewrap.environment import agents_tracing_enabled
from tracewrap.fork_safe import module_lock
from tracewrap.integrations import agents_langsmith as ls
from tracewrap.integrations import agents_options
from tracewrap.logs import warn_once
from tracewrap.options import TraceOptions
from tracewrap.record import CallRecord
from tracewrap.telemetry import lifecycle
from tracewrap.telemetry.content import limit
from tracewrap.telemetry.deferred import collecting, defer

SDK_TRACE_ID = "openai_agents.trace_id"
HANDOFF_FROM = "tracewrap.agents.handoff.from_agent"
HANDOFF_TO = "tracewrap.agents.handoff.to_agent"
GUARDRAIL_NAME = "tracewrap.agents.guardrail.name"
GUARDRAIL_TRIGGERED = "tracewrap.agents.guardrail.triggered"
AGENT_TOOLS = "tracewrap.agents.agent.tools"
AGENT_HANDOFFS = "tracewrap.agents.agent.handoffs"

# the SDK's fixed SpanError messages -> a low-cardinality error.type (anything else: _OTHER)
_ERROR_TYPES = {
    "Max turns exceeded": "MaxTurnsExceeded",
    "Guardrail tripwire triggered": "GuardrailTripwireTriggered",
    "Error running tool": "ToolError",
    "Error running tool (non-fatal)": "ToolError",
    "Error getting response": "ModelError",
    "Error streaming response": "ModelError",
}
# the SDK's agent-span error for any failed run; it keeps a more specific one already there, and so
# do we: a model call's error hangs on the agent span before it (its response span is unmapped)
_GENERIC_AGENT_ERROR = "Error in agent run"
_MODEL_SPAN_TYPES = frozenset({"response", "generation"})
# SDK spans whose span runs the application's code in the task that starts and ends it
_RUNS_APPLICATION_CODE = frozenset({"function", "guardrail", "handoff"})
_MAX_NODES = 100_000  # runs never ended (a process killed mid-run) must not grow the maps forever


class _Node:
    """One SDK span: the OTel span it is (owned) or hangs under (an unmapped SDK span)."""

    __slots__ = (
        "agent",
        "attached",
        "call_ids",
        "context",
        "data",
        "ls_entered",
        "model_seen",
        "models",
        "outer",
        "owned",
        "run",
        "span",
        "token",
        "trace_key",
        "type",
    )

    def __init__(self, span: Any, owned: bool, sdk_type: str, trace_key: str, agent: _Node | None) -> None:
        self.span = span
        self.owned = owned
        self.type = sdk_type
        self.trace_key = trace_key
        self.context = trace.set_span_in_context(span) if span is not None else None
        self.agent = agent  # the nearest invoke_agent node (itself for an agent)
        self.call_ids: dict[str, deque[str]] | None = None  # agents: tool name -> call ids not yet run
        self.token: object | None = None  # function spans: the attach token
        self.attached: Any = None  # ... and the context attached
        self.model_seen = False  # agents: provider and model set from the first model call
        self.models: list[_Node] = []  # agents: model spans whose function calls are not read yet
        self.data: Any = None  # model spans: the SDK's span data, read for call ids
        self.run: Any = None  # the LangSmith run it is (owned) or hangs under, when LangSmith is on
        self.ls_entered: Any = None  # function spans: LangSmith's context entered for the tool's body
        # the OTel span current where the SDK span started (the application's, or an enclosing
        # tool's): still current in its body, it encloses the run rather than nesting in it
        self.outer: int | None = None


class _Run:
    """One SDK trace: its root span (None for a resumed run, whose trace start we never saw)."""

    __slots__ = ("nodes", "observer", "root", "root_run")

    def __init__(self, root: Any, observer: Any = None, root_run: Any = None) -> None:
        self.root = root
        self.nodes: set[str] = set()
        self.observer = observer  # tracewrap's LangSmith observer, when it was active at the start
        self.root_run = root_run


class TracewrapProcessor:
    """The ``TracingProcessor`` tracewrap adds with ``agents.add_trace_processor``."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    # -------------------------------------------------------------- SDK callbacks

    def on_trace_start(self, sdk_trace: Any) -> None:
        try:
            options = agents_options()
            if options is None:
                return
            lifecycle.check_export_once(options)  # the run's spans start before its first model call
            name = sdk_trace.name or "Agent workflow"
            attributes: dict[str, Any] = {
                GenAI.GEN_AI_OPERATION_NAME: "invoke_workflow",
                GenAI.GEN_AI_WORKFLOW_NAME: name,
                SDK_TRACE_ID: sdk_trace.trace_id,
            }
            group_id = getattr(sdk_trace, "group_id", None)
            if isinstance(group_id, str) and group_id:
                attributes[GenAI.GEN_AI_CONVERSATION_ID] = group_id
            root = options.instruments.tracer.start_span(
                f"invoke_workflow {name}", kind=SpanKind.INTERNAL, attributes=attributes
            )
            observer = ls.active_observer()
            root_run = (
                _ls_call(lambda: ls.start_run(observer, name, "chain", None, None)) if observer else None
            )
            with self._lock:
                self._runs[sdk_trace.trace_id] = _Run(root, observer, root_run)
        except Exception as exc:
            lifecycle.internal_error("agents on_trace_start", exc)

    def on_trace_end(self, sdk_trace: Any) -> None:
        if collecting():
            defer(lambda: self.on_trace_end(sdk_trace))
            return
        try:
            with self._lock:
                run = self._runs.pop(sdk_trace.trace_id, None)
                if run is None:
                    return
                leftovers = [self._nodes.pop(key) for key in run.nodes if key in self._nodes]
            for node in leftovers:  # spans the SDK never finished: end them with their run
                if node.owned:
                    node.span.end()
                    if node.run is not None:
                        _ls_call(lambda node=node: ls.end_run(run.observer, node.run, None, None))
            if run.root is not None:
                run.root.end()
            if run.root_run is not None:
                _ls_call(lambda: ls.end_run(run.observer, run.root_run, None, None))
        except Exception as exc:
            lifecycle.internal_error("agents on_trace_end", exc)

    def on_span_start(self, sdk_span: Any) -> None:
        try:
            options = agents_options()
            if options is None:
                return
            data = sdk_span.span_data
            sdk_type = data.type
            trace_key = sdk_span.trace_id
            observer = ls.active_observer()
            with self._lock:
                parent = self._nodes.get(sdk_span.parent_id) if sdk_span.parent_id else None
                run = self._runs.get(trace_key)
                if len(self._nodes) >= _MAX_NODES:
                    warn_once("agents:nodes", "tracewrap: too many unfinished agent spans; new ones untraced")
                    return
                if run is None:
                    # a resumed run (no trace start): its top spans are roots, in LangSmith too
                    run = self._runs.setdefault(trace_key, _Run(None, observer))
            parent_span = parent.span if parent is not None else run.root
            parent_run = parent.run if parent is not None else run.root_run
            outer = trace.get_current_span().get_span_context()
            made = self._start_otel_span(options, sdk_type, data, parent_span)
            if made is None:  # an unmapped SDK span: children hang under its nearest mapped ancestor
                agent = parent.agent if parent is not None else None
                node = _Node(parent_span, False, sdk_type, trace_key, agent)
                node.run = parent_run
                if sdk_type in _MODEL_SPAN_TYPES and agent is not None:
                    node.data = data
                    agent.models.append(node)
            else:
                agent = parent.agent if parent is not None else None
                node = _Node(made, True, sdk_type, trace_key, agent)
                if sdk_type == "agent":
                    node.agent = node
                    node.call_ids = {}
                elif sdk_type == "function":
                    self._start_tool(node, data)
                if sdk_type in _RUNS_APPLICATION_CODE:
                    self._attach(node)
                if run.observer is not None:
                    node.run = _ls_call(lambda: _start_ls_run(run.observer, node, data, parent_run))
                    if node.run is not None and node.token is not None:
                        # the application's code runs next, here: its @traceable runs nest under this run
                        node.ls_entered = _ls_call(lambda: ls.enter_run(node.run))
            node.outer = outer.span_id if outer.is_valid else None
            with self._lock:
                self._nodes[sdk_span.span_id] = node
                run.nodes.add(sdk_span.span_id)
        except Exception as exc:
            lifecycle.internal_error("agents on_span_start", exc)

    def on_span_end(self, sdk_span: Any) -> None:
        if collecting():
            defer(lambda: self.on_span_end(sdk_span))
            return
        try:
            key = sdk_span.span_id
            with self._lock:
                node = self._nodes.pop(key, None)
                if node is None:
                    return
                run = self._runs.get(node.trace_key)
                if run is not None:
                    run.nodes.discard(key)
                    if run.root is None and not run.nodes:  # a resumed run: nothing else will end it
                        del self._runs[node.trace_key]
            if node.token is not None:
                self._detach(node)
            data = sdk_span.span_data
            error = sdk_span.error
            if node.data is not None:
                self._remember_call_ids(node, ended=True)
            if error and node.span is not None and not _keeps_earlier_error(node, error):
                # an unmapped span's error (the turn's tripwire) belongs to the span it hangs under
                message = _set_error(node.span, error)
                if node.run is not None:
                    node.run.error = message
            if not node.owned:
                return
            span = node.span
            if span.is_recording():
                self._end_attributes(span, node, data)
            span.end()
            if node.run is not None and run is not None and run.observer is not None:
                _ls_call(lambda: _end_ls_run(run.observer, node, data))
        except Exception as exc:
            lifecycle.internal_error("agents on_span_end", exc)

    def shutdown(self) -> None:
        pass  # tracewrap's own exporters flush at exit; nothing is buffered here

    def force_flush(self) -> None:
        pass

    # -------------------------------------------------------------- mapping

    @staticmethod
    def _start_otel_span(options: TraceOptions, sdk_type: str, data: Any, parent: Any) -> Any:
        mapped = _name_and_attributes(sdk_type, data)
        if mapped is None:
            return None
        name, attributes = mapped
        context = trace.set_span_in_context(parent) if parent is not None else None
        return options.instruments.tracer.start_span(
            name, context=context, kind=SpanKind.INTERNAL, attributes=attributes
        )

    def _start_tool(self, node: _Node, data: Any) -> None:
        agent = node.agent
        if agent is not None:
            # a streamed model span may end after its tools start (its generator closes late)
            for model in list(agent.models):
                self._remember_call_ids(model, ended=False)
        if agent is not None and agent.call_ids:
            pending = agent.call_ids.get(data.name)
            if pending:
                node.span.set_attribute(GenAI.GEN_AI_TOOL_CALL_ID, pending.popleft())

    @staticmethod
    def _attach(node: _Node) -> None:
        # the application's code (a tool's body, a guardrail, on_handoff) runs in this task (or a
        # task / thread copying its context): its spans and its direct model calls nest under the node
        node.attached = (node.context, _where())
        node.token = otel_context.attach(node.context)

    @staticmethod
    def _detach(node: _Node) -> None:
        token, node.token = node.token, None
        attached, where = node.attached
        entered, node.ls_entered = node.ls_entered, None
        if entered is not None and where == _where():  # entered last, left first
            _ls_call(lambda: ls.leave_run(entered, node.run))
        # only in the thread and task that attached it, with nothing attached since still on top;
        # anywhere else detaching fails (the peers' "Failed to detach context"): drop the token
        if where == _where() and otel_context.get_current() is attached:
            otel_context.detach(token)  # type: ignore[arg-type]

    @staticmethod
    def _remember_call_ids(node: _Node, ended: bool) -> None:
        """A model response's function calls: the only place the SDK gives their call ids."""
        agent = node.agent
        calls = _function_calls(node.data)
        if agent is None or agent.call_ids is None or (not calls and not ended):
            return  # no response yet: the span's end or the next tool start reads it again
        node.data = None  # read once
        if node in agent.models:
            agent.models.remove(node)
        for name, call_id in calls:
            agent.call_ids.setdefault(name, deque()).append(call_id)

    @staticmethod
    def _end_attributes(span: Any, node: _Node, data: Any) -> None:
        if node.type == "handoff":
            if data.to_agent:
                span.set_attribute(HANDOFF_TO, data.to_agent)
                span.update_name(f"handoff {data.from_agent} -> {data.to_agent}")
        elif node.type == "guardrail":
            span.set_attribute(GUARDRAIL_TRIGGERED, bool(data.triggered))
        elif node.type == "function":
            options = agents_options()
            if options is not None and options.capture_on_span:
                for key, value in (
                    (GenAI.GEN_AI_TOOL_CALL_ARGUMENTS, data.input),
                    (GenAI.GEN_AI_TOOL_CALL_RESULT, data.output),
                ):
                    text = _content(value, options)
                    if text is not None:
                        span.set_attribute(key, text)
        elif node.type == "agent":
            # the SDK fills these in after the agent span started
            if data.tools:
                span.set_attribute(AGENT_TOOLS, list(data.tools))
            if data.handoffs:
                span.set_attribute(AGENT_HANDOFFS, list(data.handoffs))


def _name_and_attributes(sdk_type: str, data: Any) -> tuple[str, dict[str, Any]] | None:
    """A mapped SDK span's name and start attributes; None for the types that make no span."""
    if sdk_type == "agent":
        return f"invoke_agent {data.name}", {
            GenAI.GEN_AI_OPERATION_NAME: "invoke_agent",
            GenAI.GEN_AI_AGENT_NAME: data.name,
        }
    if sdk_type == "function":
        return f"execute_tool {data.name}", {
            GenAI.GEN_AI_OPERATION_NAME: "execute_tool",
            GenAI.GEN_AI_TOOL_NAME: data.name,
            GenAI.GEN_AI_TOOL_TYPE: "function",
        }
    if sdk_type == "handoff":
        return f"handoff {data.from_agent}", {HANDOFF_FROM: data.from_agent} if data.from_agent else {}
    if sdk_type == "guardrail":
        return f"guardrail {data.name}", {GUARDRAIL_NAME: data.name}
    if sdk_type == "custom":
        return str(data.name), {}
    if sdk_type == "mcp_tools":
        return f"mcp list_tools {data.server}", {}
    return None


def _where() -> tuple[int, Any]:
    """The thread and asyncio task running now (None outside a running loop)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return threading.get_ident(), task


def _content(value: Any, options: TraceOptions) -> str | None:
    """A tool argument or result as recorded: text, through the redact hook, cut at the limit."""
    if value is None:  # the SDK's trace_include_sensitive_data is off, or nothing was returned
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if options.redact is not None:
        try:
            text = options.redact(text)
            if not isinstance(text, str):
                raise TypeError(type(text).__name__)
        except Exception as exc:
            warn_once(
                "redact",
                "tracewrap: the redact hook raised %s; the content of such calls is not recorded",
                type(exc).__name__,
            )
            return None
    return limit(text, options.content_max_length)


def _function_calls(data: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    response = getattr(data, "response", None)  # Responses: the Response object
    if response is not None:
        for item in getattr(response, "output", None) or ():
            if getattr(item, "type", None) == "function_call":
                found.append((_trace_name(item.name, getattr(item, "namespace", None)), item.call_id))
        return found
    for message in getattr(data, "output", None) or ():  # chat completions: dicts
        if not isinstance(message, dict):
            continue
        for call in message.get("tool_calls") or ():  # a chat message
            function = call.get("function") or {}
            if function.get("name") and call.get("id"):
                found.append((function["name"], call["id"]))
        for item in message.get("output") or ():  # a streamed chat, dumped as a Response
            if isinstance(item, dict) and item.get("type") == "function_call":
                found.append((_trace_name(item.get("name"), item.get("namespace")), item.get("call_id")))
    return found


def _trace_name(name: Any, namespace: Any) -> Any:
    """The name the SDK gives the function span of a call to ``name``: a tool in a namespace
    (``tool_namespace``, Responses) runs as ``namespace.name``, except in the one the SDK makes up
    for a deferred top-level tool, which bears the tool's own name (the SDK's ``tool_trace_name``).
    The call ids are matched to tool spans by that name."""
    if isinstance(namespace, str) and namespace and namespace != name:
        return f"{namespace}.{name}"
    return name


def _keeps_earlier_error(node: _Node, error: Any) -> bool:
    """The SDK's generic agent error arriving where a more specific one was already set."""
    if not isinstance(error, dict) or error.get("message") != _GENERIC_AGENT_ERROR:
        return False
    status = getattr(node.span, "status", None)  # a NonRecordingSpan has none
    if status is not None and status.status_code is StatusCode.ERROR:
        return True
    return node.run is not None and bool(node.run.error)


def _set_error(span: Any, error: Any) -> str:
    """ERROR status and error.type on the span; returns what a LangSmith run says of it."""
    message = error.get("message") if isinstance(error, dict) else None
    error_type = _ERROR_TYPES.get(message or "", "_OTHER")
    span.set_attribute(error_attributes.ERROR_TYPE, error_type)
    # the fixed messages only: another one may quote the tool's exception text
    known = message if error_type != "_OTHER" else None
    span.set_status(Status(StatusCode.ERROR, known))
    return f"{error_type}: {known}" if known else error_type


def _ls_call(action: Any) -> Any:
    """LangSmith's part of a callback: its failure never costs the OTel spans."""
    try:
        return action()
    except Exception as exc:
        lifecycle.internal_error("agents langsmith", exc)
        return None


def _start_ls_run(observer: Any, node: _Node, data: Any, parent_run: Any) -> Any:
    if node.type == "function":  # its arguments are set after it starts: they go with the end
        return ls.start_run(observer, data.name, "tool", parent_run, None)
    if node.type == "agent":
        return ls.start_run(observer, data.name, "chain", parent_run, None)
    # named from the SDK's data, not the OTel span: with LangSmith alone that span is not recording
    # (a NonRecordingSpan has no name)
    mapped = _name_and_attributes(node.type, data)
    return ls.start_run(observer, mapped[0] if mapped else node.type, "chain", parent_run, None)


def _end_ls_run(observer: Any, node: _Node, data: Any) -> None:
    outputs = inputs = None
    if node.type == "function":
        options = agents_options()
        if options is not None:
            inputs, outputs = ls.tool_inputs(data, options), ls.tool_outputs(data, options)
    elif node.type == "handoff":
        outputs = {"to_agent": data.to_agent}
        if data.to_agent:  # known only now, as for the span's name
            node.run.name = f"handoff {data.from_agent} -> {data.to_agent}"
    elif node.type == "guardrail":
        outputs = {"triggered": bool(data.triggered)}
    ls.end_run(observer, node.run, outputs, node.run.error, inputs)


def _agent_run() -> Any:
    """The LangSmith observer's hook: the run a model call made inside an agent run nests under."""
    try:
        sdk_span = _current_sdk_span()
        if sdk_span is None or _PROCESSOR is None:
            return None
        node = _PROCESSOR._nodes.get(sdk_span.span_id)
        return node.run if node is not None else None
    except Exception as exc:
        lifecycle.internal_error("agents langsmith parent", exc)
        return None


# -------------------------------------------------------------- model calls


def _parent_of_call(record: CallRecord) -> Any:
    """``lifecycle.start``'s hook: the OTel context a model call made inside an agent run nests under."""
    try:
        sdk_span = _current_sdk_span()
        if sdk_span is None:
            return None
        node = _PROCESSOR._nodes.get(sdk_span.span_id) if _PROCESSOR is not None else None
        if node is None or node.context is None:
            return None
        if node.type not in _MODEL_SPAN_TYPES:
            # user code under a tool (or a guardrail, dynamic instructions...) calling a client
            # itself: a span of its own, started in there and in this run's trace, is more precise
            # than the node's; the span that was current where the node started (the
            # application's around the run) encloses the run and is not
            current = trace.get_current_span().get_span_context()
            if (
                current.is_valid
                and current.span_id != node.outer
                and current.trace_id == node.span.get_span_context().trace_id
            ):
                return None
        else:
            agent = node.agent
            if agent is not None and not agent.model_seen:
                # Required on invoke_agent, known only now: the provider and model of its calls
                agent.model_seen = True
                agent.span.set_attribute(GenAI.GEN_AI_PROVIDER_NAME, record.provider)
                if record.request_model:
                    agent.span.set_attribute(GenAI.GEN_AI_REQUEST_MODEL, record.request_model)
        return node.context
    except Exception as exc:
        lifecycle.internal_error("agents parent", exc)
        return None


def _no_sdk_span() -> Any:
    return None


_current_sdk_span = _no_sdk_span
_PROCESSOR: TracewrapProcessor | None = None
_register_lock = module_lock(globals(), "_register_lock")


def processor() -> TracewrapProcessor | None:
    """tracewrap's processor, e.g. to keep it alone: ``agents.set_trace_processors([processor()])``
    (OpenAI's export off, tracewrap's spans on).

    Made here if tracewrap has not added it yet (the recipe run before ``wrap()``, or before
    ``agents`` was imported, got None, and the SDK then logged an error for every span of every run):
    it records once ``wrap()`` / ``instrument()`` gives it options. None only with
    ``TRACEWRAP_AGENTS=false`` or where the ``agents`` package cannot be imported.
    """
    if _PROCESSOR is None and agents_tracing_enabled():
        try:
            import agents

            return register(agents)
        except ImportError:  # no openai-agents (or another package named agents)
            return None
    return _PROCESSOR


def register(agents: Any) -> TracewrapProcessor:
    """Add the processor to the SDK (once per process) and hook model calls under agent spans."""
    global _PROCESSOR, _current_sdk_span
    from agents.tracing import TracingProcessor, add_trace_processor
    from agents.tracing.scope import Scope

    with _register_lock:
        if _PROCESSOR is not None:
            return _PROCESSOR
        processor_class = type("TracewrapProcessor", (TracewrapProcessor, TracingProcessor), {})
        processor = processor_class()
        _current_sdk_span = Scope.get_current_span
        _PROCESSOR = processor
        add_trace_processor(processor)
        lifecycle.parent_context = _parent_of_call
        from tracewrap.exporting import langsmith

        langsmith.agent_parent = _agent_run
        return processor

"""An agent run's spans as LangSmith runs, when tracewrap's LangSmith exporter is active.

The same tree as the OTel spans: the workflow and each agent a ``chain`` run, each function tool a
``tool`` run, handoffs and guardrails ``chain`` runs, the model calls the ``llm`` runs the
:class:`~tracewrap.exporting.langsmith.LangSmithObserver` already sends (it asks
:func:`tracewrap.integrations.openai_agents.current_agent_run` for their parent). The workflow run
is a child of the application's ``@traceable`` run when there is one. Each run is posted when it
starts and patched when it ends, the way ``@traceable`` sends its own. Each follows LangSmith's
context when it starts, as a call's run does: no run while LangSmith's switch is off
(``tracing_context(enabled=False)``, ``langsmith.configure(enabled=False)``), a root run in the
context's project, every run with the context's tags and metadata.
"""

from __future__ import annotations

from typing import Any

from tracewrap.observers import current_observers
from tracewrap.options import TraceOptions

_OBSERVERS = current_observers()


def active_observer() -> Any:
    """tracewrap's LangSmith observer, if ``configure()`` set one up."""
    if not _OBSERVERS:
        return None
    from tracewrap.exporting.langsmith import LangSmithObserver

    for observer in _OBSERVERS:
        if isinstance(observer, LangSmithObserver):
            return observer
    return None


def start_run(observer: Any, name: str, run_type: str, parent: Any, inputs: dict[str, Any] | None) -> Any:
    """Post a run that starts now, a child of ``parent`` (None: of LangSmith's current run, if any);
    None when LangSmith's switch says no run. LangSmith's context is read as for a call's run
    (:func:`tracewrap.exporting.langsmith.run_context`): the switch, a root run's project, the
    tags and metadata."""
    from langsmith.run_trees import RunTree

    from tracewrap.exporting.langsmith import chosen_client, run_context

    context = run_context()
    if context is None:
        return None
    args: dict[str, Any] = {}
    if parent is None:
        parent = context.current  # the application's @traceable, if any
    if parent is not None:
        args["parent_run"] = parent
        if parent.session_name:
            args["project_name"] = parent.session_name
    else:
        project = context.project or observer.settings.project
        if project:
            args["project_name"] = project
    if context.tags:
        args["tags"] = list(context.tags)
    if context.metadata:
        args["extra"] = {"metadata": dict(context.metadata)}
    shown = {} if observer.settings.hide_inputs or inputs is None else inputs
    client = chosen_client(parent, context.client, observer.client)
    run = RunTree(name=name, run_type=run_type, inputs=shown, ls_client=client, **args)
    run.post()
    return run


def enter_run(run: Any) -> Any:
    """Make ``run`` LangSmith's current run, as ``tracing_context(parent=run)`` (LangSmith's way to
    nest under a run made by hand) does, until :func:`leave_run`: the runs a tool's body sends with
    ``@traceable`` are then its run's children, in its trace. Returns the context entered."""
    from langsmith.run_helpers import tracing_context

    entered = tracing_context(parent=run)
    entered.__enter__()
    return entered


def leave_run(entered: Any, run: Any) -> bool:
    """Restore LangSmith's context as :func:`enter_run` found it, if ``run`` is still its current run
    (nothing entered since is left open); False if not, and nothing is changed."""
    from langsmith.run_helpers import get_current_run_tree

    if get_current_run_tree() is not run:
        return False
    entered.__exit__(None, None, None)
    return True


def end_run(
    observer: Any,
    run: Any,
    outputs: dict[str, Any] | None,
    error: str | None,
    inputs: dict[str, Any] | None = None,
) -> None:
    """End and patch the run; ``inputs`` known only at the end (a tool's arguments) go with the patch."""
    shown = None if observer.settings.hide_outputs else outputs
    run.end(outputs=shown, error=error)
    late_inputs = inputs is not None and not observer.settings.hide_inputs
    if late_inputs:
        run.inputs = inputs
    run.patch(exclude_inputs=not late_inputs)


def tool_inputs(data: Any, options: TraceOptions) -> dict[str, Any] | None:
    """A tool's arguments for its run (LangSmith content follows LANGSMITH_HIDE_*, redacted)."""
    return _content("input", data.input, options)


def tool_outputs(data: Any, options: TraceOptions) -> dict[str, Any] | None:
    return _content("output", data.output, options)


def _content(key: str, value: Any, options: TraceOptions) -> dict[str, Any] | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if options.redact is not None:
        try:
            text = options.redact(text)
        except Exception:
            return None  # as for spans: a failing hook records nothing
        if not isinstance(text, str):
            return None
    return {key: text}

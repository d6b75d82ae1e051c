"""Other OpenAI instrumentations as columns, each when importable, content capture off."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

from tracewrap.testing import MockOpenAI

from .harness import MISSING, Column, Telemetry, version


class PatchToggle:
    """Switches a peer's monkeypatches on and off around its own calls, and only those.

    Peers patch the SDK's classes globally, so left installed they would also sit under the bare
    and tracewrap columns. Their ``uninstrument()`` then ``instrument()`` again per call is not
    reliable (some leave wrappers behind, which then stack up call after call), so the peer is
    instrumented once, every attribute it changed on the ``openai`` modules and their classes is
    recorded, and each call swaps the patched values in and the original ones back.
    """

    def __init__(self, changes: list[tuple[Any, str, Any, Any]]) -> None:
        self.changes = changes  # (owner, name, original, patched)
        self.off()

    @staticmethod
    def _namespaces() -> list[Any]:
        spaces: dict[int, Any] = {}
        for name, module in list(sys.modules.items()):
            if module is None or not (name == "openai" or name.startswith("openai.")):
                continue
            spaces[id(module)] = module
            for value in list(vars(module).values()):
                if isinstance(value, type) and getattr(value, "__module__", "").startswith("openai"):
                    spaces[id(value)] = value
        return list(spaces.values())

    @classmethod
    def around(cls, instrument: Callable[[], Any]) -> PatchToggle:
        spaces = cls._namespaces()
        before = {id(space): dict(vars(space)) for space in spaces}
        instrument()
        changes = []
        for space in spaces:
            old = before[id(space)]
            for name, value in list(vars(space).items()):
                # a name new on the class (e.g. an inherited method patched on a subclass) is
                # switched off by deleting it again
                if old.get(name, MISSING) is not value:
                    changes.append((space, name, old.get(name, MISSING), value))
        if not changes:
            raise RuntimeError("instrument() changed nothing on the openai modules")
        return cls(changes)

    def on(self) -> None:
        for owner, name, _, patched in self.changes:
            setattr(owner, name, patched)

    def off(self) -> None:
        for owner, name, original, _ in self.changes:
            if original is MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(owner, name)
            else:
                setattr(owner, name, original)


def peer_columns(backend: MockOpenAI, telemetry: Telemetry) -> tuple[list[Column], list[str]]:
    """Other OpenAI instrumentations, each when importable, content capture off where it has a switch."""
    tp, mp = telemetry.tracer_provider, telemetry.meter_provider
    columns: list[Column] = []
    skipped: list[str] = []

    def instrumentor_column(key: str, title: str, build: Callable[[], Any], **kwargs: Any) -> None:
        try:
            instrumentor = build()
            toggle = PatchToggle.around(
                lambda: instrumentor.instrument(tracer_provider=tp, meter_provider=mp, **kwargs)
            )
        except Exception as exc:  # ImportError, or a peer that does not load on this SDK
            skipped.append(f"{title}: {type(exc).__name__}: {exc}")
            return
        columns.append(
            Column(
                key,
                title,
                backend.client(),
                backend.async_client(),
                enter=toggle.on,
                exit=toggle.off,
            )
        )

    def otel_genai() -> Any:
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

        return OpenAIInstrumentor()

    def openllmetry() -> Any:
        os.environ.setdefault("TRACELOOP_TRACE_CONTENT", "false")
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        return OpenAIInstrumentor()

    genai_version = version("opentelemetry-instrumentation-genai-openai")
    instrumentor_column("otel_genai", f"otel-genai-openai {genai_version}", otel_genai)
    instrumentor_column(
        "openllmetry", f"OpenLLMetry {version('opentelemetry-instrumentation-openai')}", openllmetry
    )
    try:
        from openinference.instrumentation import TraceConfig
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIInstrumentor

        instrumentor_column(
            "openinference",
            f"OpenInference {version('openinference-instrumentation-openai')}",
            OIInstrumentor,
            config=TraceConfig(hide_inputs=True, hide_outputs=True),
        )
    except Exception as exc:
        skipped.append(f"OpenInference: {type(exc).__name__}: {exc}")
    try:
        columns.append(_langsmith_column(backend))
    except Exception as exc:
        skipped.append(f"LangSmith wrap_openai: {type(exc).__name__}: {exc}")
    return columns, skipped


def _langsmith_column(backend: MockOpenAI) -> Column:
    """LangSmith's ``wrap_openai`` posting runs through a requests session that answers locally."""
    import langsmith
    import requests
    from langsmith.wrappers import wrap_openai

    class DiscardingAdapter(requests.adapters.BaseAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            response = requests.Response()
            response.status_code = 200
            response._content = b"{}"
            response.headers["content-type"] = "application/json"
            response.request = request
            response.url = request.url
            return response

        def close(self) -> None:
            return None

    session = requests.Session()
    session.mount("http://", DiscardingAdapter())
    session.mount("https://", DiscardingAdapter())
    ls_client = langsmith.Client(
        api_url="http://langsmith.bench.local",
        api_key="lsv2-bench",
        session=session,
        hide_inputs=True,
        hide_outputs=True,
    )
    # the client mounts its own retrying adapters on the session it is given: put ours back on top
    ls_client.session.mount("http://", DiscardingAdapter())
    ls_client.session.mount("https://", DiscardingAdapter())
    extra: Any = {"client": ls_client}
    state: dict[str, Any] = {}

    def enter() -> None:
        state["ctx"] = langsmith.tracing_context(enabled=True, client=ls_client)
        state["ctx"].__enter__()

    def leave() -> None:
        state.pop("ctx").__exit__(None, None, None)

    return Column(
        "langsmith",
        f"LangSmith wrap_openai {version('langsmith')}",
        wrap_openai(backend.client(), tracing_extra=extra),
        wrap_openai(backend.async_client(), tracing_extra=extra),
        enter=enter,
        exit=leave,
        settle=ls_client.flush,
        note="runs go to LangSmith's batch thread (not OTel)",
        otel=False,
    )

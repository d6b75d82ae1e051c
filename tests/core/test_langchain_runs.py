"""The mark LangChain's tracer leaves for tracewrap's LangSmith export (integrations/langchain.py),
on a stand-in module shaped like ``langchain_core.tracers.langchain``: the whole behaviour with the
real LangChain is in tests/frameworks/test_langchain_langsmith.py."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import types
import uuid
from typing import Any

import pytest

from tracewrap.integrations import langchain


def _tracer_module() -> types.ModuleType:
    class BaseTracer:
        def __init__(self) -> None:
            self.run_map: dict[str, Any] = {}

        def on_llm_start(self, serialized: Any, prompts: Any, *, run_id: uuid.UUID, **kwargs: Any) -> str:
            self.run_map[str(run_id)] = "run"
            return "started"

        def on_llm_end(self, response: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
            self.run_map.pop(str(run_id))

    class LangChainTracer(BaseTracer):
        def on_chat_model_start(
            self, serialized: Any, messages: Any, *, run_id: uuid.UUID, **kwargs: Any
        ) -> str:
            self.run_map[str(run_id)] = "run"
            return "chat started"

    module = types.ModuleType("langchain_core.tracers.langchain")
    module.BaseTracer = BaseTracer  # type: ignore[attr-defined]
    module.LangChainTracer = LangChainTracer  # type: ignore[attr-defined]
    return module


def test_a_call_is_langchains_while_the_run_its_tracer_started_is_open() -> None:
    module = _tracer_module()
    langchain._on_tracer_import(module)

    def model_run(start: str) -> list[bool]:
        tracer, run_id = module.LangChainTracer(), uuid.uuid4()
        seen = [langchain.recorded_by_langchain()]
        assert getattr(tracer, start)({}, [], run_id=run_id) in ("started", "chat started")  # its result
        seen.append(langchain.recorded_by_langchain())  # the model's call, made now
        tracer.on_llm_end(None, run_id=run_id)
        seen.append(langchain.recorded_by_langchain())  # a call after the run ended
        return seen

    for start in ("on_chat_model_start", "on_llm_start"):
        assert contextvars.copy_context().run(model_run, start) == [False, True, False]


def test_only_langchains_own_tracer_is_patched_and_a_dead_tracer_marks_nothing() -> None:
    module = _tracer_module()
    langchain._on_tracer_import(module)

    def other_tracer() -> bool:
        module.BaseTracer().on_llm_start({}, [], run_id=uuid.uuid4())  # another tracer's runs
        return langchain.recorded_by_langchain()

    def collected_tracer() -> bool:
        module.LangChainTracer().on_llm_start({}, [], run_id=uuid.uuid4())
        gc.collect()  # the tracer, and the run it held open, are gone
        return langchain.recorded_by_langchain()

    assert contextvars.copy_context().run(other_tracer) is False
    assert contextvars.copy_context().run(collected_tracer) is False


def test_the_mark_follows_an_async_model_call_and_stays_in_its_context() -> None:
    module = _tracer_module()
    langchain._on_tracer_import(module)
    tracer = module.LangChainTracer()

    async def model_call() -> bool:
        tracer.on_chat_model_start({}, [], run_id=uuid.uuid4())  # inline, as LangChain runs its tracer
        await asyncio.sleep(0)
        return langchain.recorded_by_langchain()

    async def main() -> tuple[bool, bool]:
        in_task = await asyncio.create_task(model_call())
        return in_task, langchain.recorded_by_langchain()  # the task's mark is the task's

    assert contextvars.copy_context().run(asyncio.run, main()) == (True, False)


def test_a_langchain_without_the_callbacks_is_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    module = types.ModuleType("langchain_core.tracers.langchain")
    module.LangChainTracer = type("LangChainTracer", (), {})  # type: ignore[attr-defined]
    with caplog.at_level(logging.DEBUG, logger="tracewrap"):
        langchain._on_tracer_import(module)
    assert caplog.records == []  # no error, no warning: nothing to patch
    assert not hasattr(module.LangChainTracer, "on_llm_start")
    assert langchain.recorded_by_langchain() is False

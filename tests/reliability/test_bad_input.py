"""Bad input from the user: a clear error that names the problem, raised from ``wrap()`` itself —
or, for environment variables, one warning and the documented default."""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openai
import pytest

import tracewrap
from tracewrap.environment import DEFAULT_CONTENT_MAX_LENGTH
from tracewrap.interception.install import installation_of
from tracewrap.testing import MockOpenAI

from .helpers import API_KEY, Pipeline, echo_backend

TRACEWRAP_SRC = Path(tracewrap.__file__).parent


def client() -> openai.OpenAI:
    return openai.OpenAI(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", max_retries=0)


def assert_raised_by_tracewrap(error: pytest.ExceptionInfo[BaseException]) -> None:
    """The error comes from tracewrap's own argument checks, not from deep inside a dependency."""
    last = Path(str(error.traceback[-1].path))
    assert TRACEWRAP_SRC in last.parents, f"raised from {last}"
    assert str(error.value).startswith("tracewrap"), str(error.value)


# --------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("target", "named"),
    [(42, "int"), (None, "NoneType"), ({"chat": 1}, "dict"), (json, "module"), ("openai", "str")],
)
def test_wrap_rejects_what_is_not_openai(target: Any, named: str) -> None:
    with pytest.raises(TypeError) as error:
        tracewrap.wrap(target)
    message = str(error.value)
    assert "openai module or an OpenAI client" in message and named in message
    assert_raised_by_tracewrap(error)


def test_wrap_rejects_the_client_class() -> None:
    with pytest.raises(TypeError) as error:
        tracewrap.wrap(openai.OpenAI)
    assert "OpenAI client" in str(error.value)
    assert_raised_by_tracewrap(error)


# --------------------------------------------------------------------------- paths


def test_unknown_path_names_the_path_and_changes_nothing() -> None:
    target = client()
    with pytest.raises(ValueError) as error:
        tracewrap.wrap(target, paths=["chat.completions.create", "chat.nope.create"])
    assert "'chat.nope.create'" in str(error.value) and "'nope'" in str(error.value)
    assert_raised_by_tracewrap(error)
    assert installation_of(target) is None  # validated before anything was installed
    assert "create" not in vars(target.chat.completions)


def test_unknown_path_on_the_module_fails_at_wrap_not_at_every_client() -> None:
    """``wrap(openai, paths=[unknown])`` must fail where the mistake is, not later in each
    ``openai.OpenAI()`` the application builds."""
    with pytest.raises(ValueError) as error:
        tracewrap.wrap(openai, paths=["chat.nope.create"])
    assert "'chat.nope.create'" in str(error.value)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "chat",
        "chat..create",
        "chat completions.create",
        "1chat.create",
        "chat.completions.",
        ".create",
        "chat.completions",
        "chat.completions.create.extra",
        "chat.completions._client",
        None,
        7,
    ],
)
def test_malformed_paths(path: Any) -> None:
    with pytest.raises(ValueError) as error:
        tracewrap.wrap(client(), paths=[path])
    assert repr(path) in str(error.value)
    assert_raised_by_tracewrap(error)


@pytest.mark.parametrize("option", ["paths", "extra_paths"])
def test_a_single_string_is_not_a_list_of_paths(option: str) -> None:
    with pytest.raises(TypeError) as error:
        tracewrap.wrap(client(), **{option: "chat.completions.create"})
    assert option in str(error.value) and "list of dotted paths" in str(error.value)
    assert_raised_by_tracewrap(error)


@pytest.mark.parametrize("paths", [5, 3.5, object()])
def test_paths_that_are_not_iterable(paths: Any) -> None:
    with pytest.raises(TypeError) as error:
        tracewrap.wrap(client(), paths=paths)
    assert "paths" in str(error.value)
    assert_raised_by_tracewrap(error)


@pytest.mark.parametrize("option", ["paths", "extra_paths"])
def test_auto_instrument_checks_paths_like_wrap(option: str) -> None:
    import tracewrap.auto

    for bad in (5, "chat.completions.create"):
        with pytest.raises(TypeError) as error:
            tracewrap.auto.instrument(**{option: bad})
        assert option in str(error.value) and "list of dotted paths" in str(error.value)
        assert_raised_by_tracewrap(error)
    assert not tracewrap.auto.is_instrumented()  # nothing was patched


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("kwargs", "exc_type", "named"),
    [
        ({"redact": 123}, TypeError, "redact"),
        ({"redact": "***"}, TypeError, "redact"),
        ({"capture_content": "bogus"}, ValueError, "capture_content='bogus'"),
        ({"capture_content": 123}, ValueError, "capture_content=123"),
        ({"content_max_length": -1}, (TypeError, ValueError), "content_max_length"),
        ({"content_max_length": 0}, (TypeError, ValueError), "content_max_length"),
        ({"content_max_length": "100"}, TypeError, "content_max_length"),
        ({"content_max_length": 2.5}, TypeError, "content_max_length"),
        ({"content_max_length": True}, TypeError, "content_max_length"),
        ({"provider": ""}, TypeError, "provider"),
        ({"provider": 5}, TypeError, "provider"),
        ({"tracer_provider": 123}, TypeError, "tracer_provider"),
        ({"meter_provider": "prometheus"}, TypeError, "meter_provider"),
        ({"estimate_cost": "no"}, TypeError, "estimate_cost"),
    ],
)
def test_wrong_option_types(kwargs: dict[str, Any], exc_type: Any, named: str) -> None:
    target = client()
    with pytest.raises(exc_type) as error:
        tracewrap.wrap(target, **kwargs)
    assert named in str(error.value)
    assert_raised_by_tracewrap(error)
    assert installation_of(target) is None


def test_capture_content_error_lists_the_valid_values() -> None:
    with pytest.raises(ValueError) as error:
        tracewrap.wrap(client(), capture_content="bogus")
    for valid in ("no_content", "span_only", "event_only", "span_and_event"):
        assert valid in str(error.value)


# --------------------------------------------------------------------------- resources


class OddChatClient(openai.OpenAI):
    """An application's client whose ``chat`` is its own object, without ``completions``."""

    @functools.cached_property
    def chat(self):  # type: ignore[override]
        return SimpleNamespace(note="the application's own chat")


def test_a_resource_tracewrap_cannot_walk_is_built_as_the_sdk_builds_it(caplog, fresh_warnings) -> None:
    """Known paths are wrapped when the client first builds their resource: a failure there is
    said once and never reaches that first use."""
    target = tracewrap.wrap(OddChatClient(api_key=API_KEY, base_url="http://127.0.0.1:9/v1"))
    caplog.set_level(logging.WARNING, logger="tracewrap")
    assert target.chat.note == "the application's own chat"
    (warning,) = _warnings(caplog, "tracing chat.completions.create")
    assert "'completions'" in warning and "untraced" in warning


# --------------------------------------------------------------------------- environment


def _call(pipe: Pipeline, backend: MockOpenAI, content: str = "Say hello") -> dict[str, Any]:
    pipe.exporter.clear()
    traced = tracewrap.wrap(backend.client(), **pipe.kwargs())
    traced.chat.completions.create(model="m", messages=[{"role": "user", "content": content}])
    return dict(pipe.one_span().attributes or {})


def _warnings(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tracewrap" and name in r.getMessage()]


@pytest.mark.parametrize("value", ["bogus", "yes please", "SPAN"])
def test_invalid_capture_env_warns_once_and_captures_nothing(
    value, monkeypatch, caplog, pipe, fresh_warnings
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    caplog.set_level(logging.WARNING, logger="tracewrap")
    backend = echo_backend()
    for _ in range(3):
        a = _call(pipe, backend)
        assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
    (warning,) = _warnings(caplog, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
    assert repr(value.lower()) in warning and "no_content" in warning and "not captured" in warning
    assert not [r for r in caplog.records if r.exc_info]  # a warning, not a stack trace


@pytest.mark.parametrize("value", ["abc", "-5", "0", "1e3"])
def test_invalid_content_max_length_env_warns_once_and_uses_default(
    value, monkeypatch, caplog, pipe, fresh_warnings
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    monkeypatch.setenv("TRACEWRAP_CONTENT_MAX_LENGTH", value)
    caplog.set_level(logging.WARNING, logger="tracewrap")
    backend = echo_backend()
    long_text = "z" * (DEFAULT_CONTENT_MAX_LENGTH + 500)
    for _ in range(2):
        a = _call(pipe, backend, long_text)
        captured = a["gen_ai.input.messages"]
        # the default limit applies to the text value, not the bad value
        cut = long_text[:DEFAULT_CONTENT_MAX_LENGTH] + "…[truncated 500 chars]"
        assert json.loads(captured) == [{"role": "user", "parts": [{"type": "text", "content": cut}]}]
    (warning,) = _warnings(caplog, "TRACEWRAP_CONTENT_MAX_LENGTH")
    assert repr(value) in warning and str(DEFAULT_CONTENT_MAX_LENGTH) in warning
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_content_max_length_env_is_unset(value, monkeypatch, caplog, pipe, fresh_warnings) -> None:
    # as every other integer setting (and OpenTelemetry's own): an empty value means "not set"
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    monkeypatch.setenv("TRACEWRAP_CONTENT_MAX_LENGTH", value)
    caplog.set_level(logging.WARNING, logger="tracewrap")
    long_text = "z" * (DEFAULT_CONTENT_MAX_LENGTH + 7)
    captured = json.loads(_call(pipe, echo_backend(), long_text)["gen_ai.input.messages"])
    cut = long_text[:DEFAULT_CONTENT_MAX_LENGTH] + "…[truncated 7 chars]"
    assert captured == [{"role": "user", "parts": [{"type": "text", "content": cut}]}]
    assert _warnings(caplog, "TRACEWRAP_CONTENT_MAX_LENGTH") == []


@pytest.mark.parametrize("variable", ["TRACEWRAP_ENABLED", "OTEL_SDK_DISABLED"])
def test_invalid_kill_switch_warns_once_and_keeps_tracing(
    variable, monkeypatch, caplog, pipe, fresh_warnings
) -> None:
    monkeypatch.setenv(variable, "maybe")
    caplog.set_level(logging.WARNING, logger="tracewrap")
    backend = echo_backend()
    for _ in range(2):
        assert _call(pipe, backend)["gen_ai.operation.name"] == "chat"  # still traced: the default
    (warning,) = _warnings(caplog, variable)
    assert "'maybe'" in warning and "not a boolean" in warning


def test_env_is_not_read_when_the_argument_is_given(monkeypatch, caplog, pipe, fresh_warnings) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "bogus")
    monkeypatch.setenv("TRACEWRAP_CONTENT_MAX_LENGTH", "abc")
    caplog.set_level(logging.WARNING, logger="tracewrap")
    backend = echo_backend()
    traced = tracewrap.wrap(
        backend.client(), capture_content="span_only", content_max_length=40, **pipe.kwargs()
    )
    traced.chat.completions.create(model="m", messages=[{"role": "user", "content": "x" * 100}])
    a = dict(pipe.one_span().attributes or {})
    assert a["gen_ai.input.messages"].startswith('[{"role": "user"')
    assert "x" * 40 + "…[truncated 60 chars]" in a["gen_ai.input.messages"]
    assert os.environ["TRACEWRAP_CONTENT_MAX_LENGTH"] == "abc"
    assert _warnings(caplog, "OTEL_INSTRUMENTATION") == [] and _warnings(caplog, "TRACEWRAP_CONTENT") == []

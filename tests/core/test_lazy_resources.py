"""``wrap()`` imports no resource of the SDK: each is traced when it is first used.

``wrap(openai)`` patches a resource's classes when the SDK imports it; ``wrap(client)`` wraps the
client's resource when the client builds it. openai 3.x imports a resource's modules when a client
first builds it; ``wrap()`` walking every traced path at once cost ~70 ms (``wrap(openai)``) and
~100 ms (``wrap(client)``) of imports a chat-only program never needs. Each case runs in a fresh
interpreter: whether ``wrap()`` imported a module can only be seen where nothing else has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

_APP = """
import json, os, sys
import openai
import wrapt
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import tracewrap
from tracewrap.interception.sdk_patch import SdkTracedMethod

def resources():
    return sorted(m for m in sys.modules if m.startswith("openai.resources."))

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracewrap.wrap(openai, tracer_provider=provider)
result = {"at_wrap": resources()}
if sys.argv[1] == "peer":  # an instrumentation installed after wrap(), before any call
    def peer(wrapped, instance, args, kwargs):
        result["peer_ran"] = True
        return wrapped(*args, **kwargs)
    wrapt.wrap_function_wrapper("openai.resources.chat.completions", "Completions.create", peer)
    from openai.resources.chat.completions import Completions
    outer = vars(Completions)["create"]
    result["peer_wraps_ours"] = isinstance(getattr(outer, "__wrapped__", None), SdkTracedMethod)
client = openai.OpenAI(api_key="sk-test", base_url=os.environ["TW_BASE_URL"], max_retries=0)
if sys.argv[1] == "rewrap":  # unwrapped before any resource was imported, then wrapped again
    tracewrap.unwrap(openai)
    client.chat.completions.create(model="m-untraced", messages=[{"role": "user", "content": "hi"}])
    tracewrap.wrap(openai, tracer_provider=provider)
client.chat.completions.create(model="m-lazy-chat", messages=[{"role": "user", "content": "hi"}])
result["responses_after_chat"] = "openai.resources.responses" in sys.modules
client.responses.create(model="m-lazy-responses", input="hi")
result["spans"] = sorted(
    (span.attributes["gen_ai.request.model"], span.attributes["openai.api.type"])
    for span in exporter.get_finished_spans()
)
print(json.dumps(result))
"""


def _run(server: Any, mode: str, app: str = _APP) -> dict[str, Any]:
    """``app`` in a fresh interpreter against the fake server; what it printed last, as JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEWRAP_"))}
    env.update(TW_BASE_URL=server.base_url, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    run = subprocess.run(
        [sys.executable, "-c", app, mode], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_wrap_imports_no_resource_and_traces_each_when_first_used(server: Any) -> None:
    result = _run(server, "plain")
    assert result["at_wrap"] == []  # openai 1.x / 2.x import none at `import openai` either
    assert result["responses_after_chat"] is False  # the Responses API is not loaded for a chat call
    assert result["spans"] == [["m-lazy-chat", "chat_completions"], ["m-lazy-responses", "responses"]]


def test_an_instrumentation_installed_after_wrap_still_wraps_ours(server: Any) -> None:
    """Importing the resource to wrap it patches ours first, as an eager patch at wrap() would have:
    the later instrumentation's layer is outside ours (and its unwrap would remove its own)."""
    result = _run(server, "peer")
    assert result["peer_wraps_ours"] is True
    assert result["peer_ran"] is True
    assert result["spans"] == [["m-lazy-chat", "chat_completions"], ["m-lazy-responses", "responses"]]


def test_unwrapped_before_first_use_then_wrapped_again(server: Any) -> None:
    """The hooks registered by the first wrap outlive its unwrap: they patch nothing for it, and
    serve the second wrap once (chat, imported meanwhile, is walked at once; Responses on import)."""
    result = _run(server, "rewrap")
    assert result["spans"] == [["m-lazy-chat", "chat_completions"], ["m-lazy-responses", "responses"]]


# ``wrap(client)``: the paths under a resource the client has not built are wrapped on that
# resource when the client builds it; the SDK's resource classes stay untouched
_CLIENT_APP = """
import functools, json, os, sys
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import tracewrap

def resources():
    return sorted(m for m in sys.modules if m.startswith("openai.resources."))

def new_client():
    return openai.OpenAI(api_key="sk-test", base_url=os.environ["TW_BASE_URL"], max_retries=0)

MESSAGES = [{"role": "user", "content": "hi"}]

def chat(client, model):
    client.chat.completions.create(model=model, messages=MESSAGES)

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
mode = sys.argv[1]
mine, other = new_client(), new_client()
if mode == "with-module":
    tracewrap.wrap(openai, tracer_provider=provider, provider="by-module")
tracewrap.wrap(mine, tracer_provider=provider, provider="by-client")
result = {"at_wrap": resources()}
if mode == "other-first":
    chat(other, "m-other-first")  # builds (and on openai 3.x imports) the chat resource first
chat(mine, "m-mine")
result["responses_after_chat"] = "openai.resources.responses" in sys.modules
chat(other, "m-other")
mine.chat.completions.with_raw_response.create(model="m-mine-raw", messages=MESSAGES)
chat(mine.with_options(timeout=30), "m-mine-copy")
mine.responses.create(model="m-mine-responses", input="hi")
if mode == "with-module":
    tracewrap.unwrap(openai)  # the client's deferred paths stay traced; the other client's not
    chat(mine, "m-mine-after-module-unwrap")
    chat(other, "m-other-after-module-unwrap")
tracewrap.unwrap(mine)
chat(mine, "m-mine-unwrapped")
from openai.resources.chat.completions import Completions
result["sdk_method"] = type(vars(Completions)["create"]).__name__
result["still_a_cached_property"] = isinstance(vars(openai.OpenAI)["chat"], functools.cached_property)
result["spans"] = sorted(
    (span.attributes["gen_ai.request.model"], span.attributes["gen_ai.provider.name"])
    for span in exporter.get_finished_spans()
)
print(json.dumps(result))
"""

_MINE = [
    ["m-mine", "by-client"],
    ["m-mine-copy", "by-client"],
    ["m-mine-raw", "by-client"],
    ["m-mine-responses", "by-client"],
]


def test_wrap_client_imports_no_resource_and_traces_that_client_alone(server: Any) -> None:
    result = _run(server, "alone", _CLIENT_APP)
    assert result["at_wrap"] == []
    assert result["responses_after_chat"] is False
    assert result["spans"] == _MINE  # not the other client's call, nor the call after unwrap(mine)
    assert result["sdk_method"] == "function"  # wrapped on the client's resource, not its class
    assert result["still_a_cached_property"] is True


def test_wrap_client_after_another_client_imported_the_resource(server: Any) -> None:
    result = _run(server, "other-first", _CLIENT_APP)
    assert result["spans"] == _MINE


def test_wrap_client_options_win_over_wrap_openai_and_outlive_its_unwrap(server: Any) -> None:
    """Both wrapped before any resource is built: the client's own wrappers run first (its options,
    one span), the class wrappers of ``wrap(openai)`` trace the other client."""
    result = _run(server, "with-module", _CLIENT_APP)
    assert result["at_wrap"] == []
    assert result["spans"] == sorted(
        [
            *_MINE,
            ["m-other", "by-module"],
            ["m-mine-after-module-unwrap", "by-client"],
        ]
    )

"""``wrap(openai)`` patches a resource's classes when the SDK imports that resource, not before.

openai 3.x imports a resource's modules when a client first builds it; ``wrap()`` walking every
traced path at once cost ~70 ms of imports a chat-only program never needs. Each case runs in a fresh
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


def _run(server: Any, mode: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACEWRAP_"))}
    env.update(TW_BASE_URL=server.base_url, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    run = subprocess.run(
        [sys.executable, "-c", _APP, mode], env=env, capture_output=True, text=True, timeout=120
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

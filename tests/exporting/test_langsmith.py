"""LangSmith runs through the real ``langsmith.Client`` into a loopback ingest recorder."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest
from langsmith import traceable

import tracewrap
from tracewrap.testing import FakeOpenAIServer, Scenario

from .common import MESSAGES, call_and_flush_in_fork
from .langsmith_recorder import LangSmithRecorder
from .receivers import OTLPReceiver

LS_KEY = "lsv2_pt_SECRET_langsmith_key_77"


def _env(monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, **extra: str) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGSMITH_API_KEY", LS_KEY)
    monkeypatch.setenv("LANGSMITH_ENDPOINT", recorder.url)
    monkeypatch.setenv("LANGSMITH_PROJECT", "tw-tests")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def _llm_runs(recorder: LangSmithRecorder, count: int) -> list[dict[str, Any]]:
    assert tracewrap.flush(5.0)
    runs = [r for r in recorder.wait_for_runs(count) if r.get("run_type") == "llm"]
    assert len(runs) == count, recorder.runs
    return sorted(runs, key=lambda r: r["start_time"])


@pytest.mark.parametrize("key", ["", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"])
def test_langsmith_named_without_an_api_key_is_one_warning_and_not_set_up(
    key: str,
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,
    make_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``OTEL_TRACES_EXPORTER=langsmith`` with no key: the client sent every run unauthenticated
    (refused by LangSmith, and the exit waited for its retries) without a word. Now one warning and
    no client; a key under either name sets it up."""
    import logging

    from tracewrap import logs

    monkeypatch.setattr(logs, "_warned", set())
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "langsmith")
    monkeypatch.setenv("LANGSMITH_ENDPOINT", recorder.url)
    if key:
        monkeypatch.setenv(key, LS_KEY)
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        setup = tracewrap.configure()
        make_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert tracewrap.flush(5.0)
    warnings = [r.getMessage() for r in caplog.records if "LANGSMITH_API_KEY" in r.getMessage()]
    if key:
        assert setup.traces_exporters == ("langsmith",) and setup.langsmith is not None
        assert warnings == []
        assert len([r for r in recorder.wait_for_runs(1) if r.get("run_type") == "llm"]) == 1
    else:
        assert setup.traces_exporters == () and setup.langsmith is None
        assert len(warnings) == 1 and warnings[0].startswith("LangSmith export is off"), warnings
        assert recorder.runs == {}


@pytest.mark.parametrize("installed", ["0.5.2", "0.10.15", "0.10.16", "0.15.1"])
def test_langsmith_export_needs_its_floor_else_one_warning_and_not_set_up(
    installed: str,
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,
    make_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """pyproject accepts langsmith 0.3 (openai 1.x on pydantic 1 has 0.5 at most), but an older
    client than 0.10.16 held the exit and sent no run at flush(): there, one warning and no
    LangSmith export; the OTel spans as ever."""
    import logging

    from tracewrap import logs
    from tracewrap.exporting import config

    monkeypatch.setattr(logs, "_warned", set())
    monkeypatch.setattr(config, "_installed_version", lambda name: installed if name == "langsmith" else None)
    _env(monkeypatch, recorder)
    with caplog.at_level(logging.WARNING, logger="tracewrap"):
        setup = tracewrap.configure()
        make_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert tracewrap.flush(5.0)
    warnings = [r.getMessage() for r in caplog.records if "langsmith 0.10.16 or newer" in r.getMessage()]
    if installed in ("0.5.2", "0.10.15"):
        assert setup.langsmith is None and "langsmith" not in setup.traces_exporters
        assert warnings == [
            "LangSmith export is off: it needs langsmith 0.10.16 or newer, and "
            f"{installed} is installed (pip install -U 'langsmith>=0.10.16', which needs pydantic 2); "
            "older clients hold the process exit and send no run at flush()"
        ]
        assert recorder.runs == {}
    else:
        assert setup.langsmith is not None and warnings == []
        assert len([r for r in recorder.wait_for_runs(1) if r.get("run_type") == "llm"]) == 1


def test_the_langsmith_export_floor_is_the_one_the_oldest_lane_installs() -> None:
    import re
    from pathlib import Path

    from tracewrap.exporting.config import LANGSMITH_EXPORT_FLOOR, _release

    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()  # (no tomllib on 3.10)
    table = text.split("[tool.tracewrap.tested-floors]", 1)[1].split("\n[", 1)[0]
    tested = re.search(r'^langsmith = "([^"]+)"$', table, re.MULTILINE)[1]  # type: ignore[index]
    assert _release(tested) == LANGSMITH_EXPORT_FLOOR
    assert [_release(v) for v in ("0.10.16rc1", "1.2", "0.7.37.post1", "x")] == [
        (0, 10, 16),
        (1, 2),
        (0, 7, 37),
        (),
    ]


@pytest.mark.parametrize("zstd", [True, False])
def test_llm_run_fields(
    zstd: bool,
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,
    server: FakeOpenAIServer,
    make_client: Any,
) -> None:
    recorder.zstd = zstd
    _env(monkeypatch, recorder)
    setup = tracewrap.configure()
    assert setup.traces_exporters == ("langsmith",) and setup.tracer_provider is None
    assert setup.langsmith.client._use_daemon_threads  # cannot hold the process at exit
    if zstd:
        # langsmith compresses once its control thread has read the server's /info; what is sent
        # before goes uncompressed (langsmith's own design, with or without tracewrap), which a loaded
        # machine showed: wait for it, so every post below is compressed
        deadline = time.monotonic() + 10
        while setup.langsmith.client.compressed_traces is None:
            assert time.monotonic() < deadline, "langsmith never turned compression on"
            time.sleep(0.01)
    client = make_client()
    server.enqueue(Scenario(prompt_tokens=40, completion_tokens=9, cached_tokens=32, reasoning_tokens=4))
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],
        temperature=0.3,
        max_tokens=50,
    )
    assert reply.choices[0].message.content == Scenario().text

    (run,) = _llm_runs(recorder, 1)
    assert run["name"] == "ChatOpenAI"
    assert run["session_name"] == "tw-tests"
    assert run["trace_id"] == run["id"] and not run.get("parent_run_id")
    assert run["start_time"] <= run["end_time"]
    assert run["inputs"] == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
        "temperature": 0.3,
        "max_tokens": 50,
    }
    outputs = run["outputs"]
    assert outputs["choices"][0]["message"]["content"] == Scenario().text
    assert outputs["choices"][0]["message"]["role"] == "assistant"
    assert outputs["system_fingerprint"] == "fp_test" and outputs["model"] == "gpt-4o-mini-2024-07-18"
    assert outputs["choices"][0]["finish_reason"] == "stop"
    assert outputs["usage_metadata"] == {
        "input_tokens": 40,
        "output_tokens": 9,
        "total_tokens": 49,
        "input_token_details": {"cache_read": 32, "audio": 0},
        "output_token_details": {"reasoning": 4, "audio": 0},
    }
    meta = run["extra"]["metadata"]
    assert meta["ls_provider"] == "openai_compatible"  # 127.0.0.1 is not api.openai.com
    assert meta["ls_model_name"] == "gpt-4o-mini"
    assert meta["ls_model_type"] == "chat"
    assert meta["ls_temperature"] == 0.3 and meta["ls_max_tokens"] == 50
    assert meta["finish_reason"] == "stop" and meta["status"] == "success"
    assert meta["response_model"] == "gpt-4o-mini-2024-07-18"
    assert run["extra"]["invocation_params"]["temperature"] == 0.3
    assert run["extra"]["invocation_params"]["model"] == "gpt-4o-mini"
    assert not run.get("error")
    posts = [(path, headers) for method, path, headers in recorder.requests if method == "POST"]
    assert posts and all(path == "/runs/multipart" for path, _ in posts)
    assert all((headers.get("content-encoding") == "zstd") == zstd for _, headers in posts)
    # every request carried the key in x-api-key, to the LangSmith endpoint only
    assert all(headers.get("x-api-key") == LS_KEY for _, _, headers in recorder.requests)


def test_absent_usage_is_omitted_not_zero(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer, make_client: Any
) -> None:
    _env(monkeypatch, recorder)
    tracewrap.configure()
    server.enqueue(Scenario(usage=False))
    make_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    (run,) = _llm_runs(recorder, 1)
    assert "usage_metadata" not in run["outputs"]
    assert "usage_metadata" not in run["extra"]["metadata"]


def test_hidden_outputs_and_inputs(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer, make_client: Any
) -> None:
    _env(monkeypatch, recorder, LANGSMITH_HIDE_OUTPUTS="true")
    setup = tracewrap.configure()
    assert not setup.langsmith.wants_content  # inputs are the call's arguments: nothing to read for them
    make_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    (run,) = _llm_runs(recorder, 1)
    assert run["inputs"]["messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert not run.get("outputs")
    assert Scenario().text.encode() not in b"".join(recorder.raw)
    # usage survives in metadata, where hiding outputs does not reach
    assert run["extra"]["metadata"]["usage_metadata"]["input_tokens"] == 12


def test_both_hidden_content_is_not_even_read(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer, make_client: Any
) -> None:
    _env(monkeypatch, recorder, LANGSMITH_HIDE_OUTPUTS="true", LANGSMITH_HIDE_INPUTS="true")
    setup = tracewrap.configure()
    assert not setup.langsmith.wants_content
    make_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    (run,) = _llm_runs(recorder, 1)
    assert not run.get("inputs") and not run.get("outputs")
    body = b"".join(recorder.raw)
    assert b"What is 2+2?" not in body and Scenario().text.encode() not in body


def test_child_of_traceable_parent_and_error_run(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer, make_client: Any
) -> None:
    _env(monkeypatch, recorder)
    setup = tracewrap.configure()
    client = make_client()

    @traceable(name="answer_question", client=setup.langsmith.client)
    def answer() -> str:
        first = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        server.enqueue(Scenario(outcome="http_error", status_code=500))
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        return first.choices[0].message.content or ""

    assert answer() == Scenario().text
    llm_ok, llm_failed = _llm_runs(recorder, 2)
    (parent,) = [r for r in recorder.wait_for_runs(3) if r.get("name") == "answer_question"]
    for child in (llm_ok, llm_failed):
        assert child["parent_run_id"] == parent["id"]
        assert child["trace_id"] == parent["trace_id"]
        assert child["dotted_order"].startswith(parent["dotted_order"] + ".")
        assert child["session_name"] == parent["session_name"]
    assert llm_failed["name"] == "ChatOpenAI" and llm_failed["extra"]["metadata"]["ls_model_name"] == "gpt-4o"
    assert llm_failed["error"].startswith("InternalServerError")
    assert llm_failed["extra"]["metadata"]["status"] == "error"
    assert llm_failed["extra"]["metadata"]["http_status_code"] == 500
    assert llm_failed["end_time"] and not llm_ok.get("error")


def test_stream_first_token_event_and_otel_ids(
    monkeypatch: pytest.MonkeyPatch,
    recorder: LangSmithRecorder,
    receiver: OTLPReceiver,
    server: FakeOpenAIServer,
    make_client: Any,
) -> None:
    _env(
        monkeypatch,
        recorder,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint,
        OTEL_METRICS_EXPORTER="none",
    )
    setup = tracewrap.configure()
    assert setup.traces_exporters == ("otlp", "langsmith")
    server.enqueue(Scenario(chunks=4, chunk_delay_s=0.02))
    stream = make_client().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == Scenario().text
    (run,) = _llm_runs(recorder, 1)
    (event,) = [e for e in run["events"] if e["name"] == "new_token"]
    assert run["start_time"] < event["time"] <= run["end_time"]
    assert run["outputs"]["usage_metadata"]["output_tokens"] == 7
    assert run["extra"]["metadata"]["stream_outcome"] == "completed"
    (span,) = [s for s in receiver.store.spans() if s.scope == "tracewrap"]
    assert run["extra"]["metadata"]["otel_trace_id"] == span.trace_id
    assert run["extra"]["metadata"]["otel_span_id"] == span.span_id


def test_forked_child_still_sends_runs(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer, make_client: Any
) -> None:

    _env(monkeypatch, recorder)
    tracewrap.configure()
    client = make_client()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(_llm_runs(recorder, 1)) == 1
    # in the child the parent's LangSmith sender threads do not exist
    child = call_and_flush_in_fork(
        lambda: client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES)
    )
    assert child == 0
    runs = recorder.wait_for_runs(2)
    assert sorted(r["extra"]["metadata"]["ls_model_name"] for r in runs) == ["gpt-4.1-mini", "gpt-4o-mini"]


def test_application_client_is_used_and_left_running(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer, make_client: Any
) -> None:
    import langsmith

    app_client = langsmith.Client(api_url=recorder.url, api_key=LS_KEY)
    setup = tracewrap.configure(langsmith_client=app_client)
    assert setup.traces_exporters == ("langsmith",) and setup.langsmith.client is app_client
    make_client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    (run,) = _llm_runs(recorder, 1)
    assert run["outputs"]["usage_metadata"]["total_tokens"] == 19
    tracewrap.shutdown(2.0)
    assert not getattr(app_client, "_manual_cleanup", False)  # flushed, not stopped: it is the app's
    app_client.cleanup(timeout=1)


def test_redaction_hook_covers_inputs_and_outputs(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer
) -> None:
    _env(monkeypatch, recorder)
    tracewrap.configure()
    seen: list[str] = []

    def redact(text: str) -> str:
        seen.append(text)
        return text.replace("2+2", "[sum]").replace("Hello", "[greeting]")

    client = tracewrap.wrap(
        openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0), redact=redact
    )
    server.enqueue(Scenario(chunks=3))
    for _ in client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers={"X-Secret": "hdr-77"}
    ):
        pass
    client.responses.create(model="gpt-4.1-mini", input="What is 2+2?", instructions="Say 2+2")
    client.close()
    chat, responses = _llm_runs(recorder, 2)
    assert chat["inputs"]["messages"] == [{"role": "user", "content": "What is [sum]?"}]
    assert "extra_headers" not in chat["inputs"]
    assert chat["outputs"]["choices"][0]["message"] == {
        "role": "assistant",
        "content": "[greeting]! How can I help?",
    }
    assert (
        responses["inputs"]["input"] == "What is [sum]?"
        and responses["inputs"]["instructions"] == "Say [sum]"
    )
    assert responses["outputs"]["output"][0]["content"][0]["text"] == "[greeting]! How can I help?"
    assert responses["outputs"]["instructions"] == "Say [sum]"  # the echo in the Response too
    # identifiers are not content: never through the hook
    assert (
        responses["outputs"]["model"] == "gpt-4.1-mini-2024-07-18"
        and responses["inputs"]["model"] == "gpt-4.1-mini"
    )
    assert "gpt-4o-mini" not in seen and "user" not in seen and "assistant" not in seen
    body = b"".join(recorder.raw)
    assert b"2+2" not in body and b"Hello" not in body and b"hdr-77" not in body


def test_failing_redaction_hook_drops_the_content(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer
) -> None:
    _env(monkeypatch, recorder)
    tracewrap.configure()

    def redact(text: str) -> str:
        raise ValueError(text)

    client = tracewrap.wrap(
        openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0), redact=redact
    )
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.5)
    assert reply.choices[0].message.content == Scenario().text
    client.close()
    (run,) = _llm_runs(recorder, 1)
    assert run["inputs"] == {"model": "gpt-4o-mini", "temperature": 0.5}
    assert set(run["outputs"]) == {"usage_metadata"}
    body = b"".join(recorder.raw)
    assert b"2+2" not in body and Scenario().text.encode() not in body


def test_run_names_are_configurable_and_azure_has_its_own(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer, make_client: Any
) -> None:
    _env(
        monkeypatch,
        recorder,
        TRACEWRAP_LANGSMITH_CHAT_NAME="MyChat",
        TRACEWRAP_LANGSMITH_COMPLETIONS_NAME="MyCompletions",
    )
    tracewrap.configure()
    client = make_client()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    client.embeddings.create(model="text-embedding-3-small", input="hi")
    _azure_embeddings(server)
    assert tracewrap.flush(5.0)
    runs = sorted(recorder.wait_for_runs(4), key=lambda r: r["start_time"])
    assert [(r["name"], r["run_type"]) for r in runs] == [
        ("MyChat", "llm"),
        ("MyCompletions", "llm"),
        ("OpenAIEmbeddings", "embedding"),
        ("AzureOpenAIEmbeddings", "embedding"),
    ]
    assert runs[1]["extra"]["metadata"]["ls_model_type"] == "llm"  # as wrap_openai marks completions
    assert runs[1]["inputs"]["prompt"] == "Say hi" and runs[1]["outputs"]["choices"][0]["text"]
    assert runs[3]["extra"]["metadata"]["ls_provider"] == "azure"


def _azure_embeddings(server: FakeOpenAIServer) -> None:
    """One embeddings call with the provider an AzureOpenAI client gets (the fake server has no
    /deployments paths)."""
    azure = tracewrap.wrap(
        openai.OpenAI(base_url=server.base_url, api_key="az-key", max_retries=0), provider="azure.ai.openai"
    )
    azure.embeddings.create(model="text-embedding-3-small", input="hi")
    azure.close()


def test_embeddings_run_name_is_configurable_for_azure_too(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer, make_client: Any
) -> None:
    """TRACEWRAP_LANGSMITH_EMBEDDINGS_NAME, documented beside the chat and completions names: a
    chosen name replaces the default for every provider, Azure's included."""
    _env(monkeypatch, recorder, TRACEWRAP_LANGSMITH_EMBEDDINGS_NAME="MyEmbeddings")
    tracewrap.configure()
    make_client().embeddings.create(model="text-embedding-3-small", input="hi")
    _azure_embeddings(server)
    assert tracewrap.flush(5.0)
    runs = sorted(recorder.wait_for_runs(2), key=lambda r: r["start_time"])
    assert [(r["name"], r["run_type"]) for r in runs] == [
        ("MyEmbeddings", "embedding"),
        ("MyEmbeddings", "embedding"),
    ]
    assert [r["extra"]["metadata"]["ls_provider"] for r in runs] == ["openai_compatible", "azure"]


def test_default_client_shared_only_when_tracewrap_sets_langsmith_up(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, receiver: OTLPReceiver
) -> None:
    from langsmith import run_trees

    # OTLP only: langsmith's default client is left for langsmith to make as it always does
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    tracewrap.configure()
    assert run_trees._CLIENT is None
    tracewrap.shutdown(2.0)

    _env(monkeypatch, recorder)
    setup = tracewrap.configure()
    assert run_trees.get_cached_client() is setup.langsmith.client  # @traceable's client: ours
    tracewrap.shutdown(2.0)
    assert run_trees._CLIENT is None  # handed back: a later @traceable gets langsmith's own

    import langsmith

    own = langsmith.Client(api_url=recorder.url, api_key=LS_KEY)
    langsmith.configure(client=own)  # the application chose its default client: it keeps it
    setup = tracewrap.configure()
    assert run_trees.get_cached_client() is own and setup.langsmith.client is not own
    tracewrap.shutdown(2.0)
    assert run_trees.get_cached_client() is own
    own.cleanup(timeout=1)


def test_async_stream_and_call(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer
) -> None:
    import asyncio

    _env(monkeypatch, recorder)
    tracewrap.configure()

    async def main() -> str:
        client = tracewrap.wrap(openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0))
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await client.responses.create(model="gpt-4.1-mini", input="hi")
        await client.close()
        return text

    assert asyncio.run(main()) == Scenario().text
    stream_run, responses_run = _llm_runs(recorder, 2)
    assert (
        stream_run["inputs"]["stream"] is True
        and stream_run["extra"]["metadata"]["stream_outcome"] == "completed"
    )
    assert stream_run["outputs"]["choices"][0]["message"]["content"] == Scenario().text
    assert stream_run["outputs"]["usage_metadata"]["total_tokens"] == 19
    assert responses_run["outputs"]["status"] == "completed" and responses_run["inputs"]["input"] == "hi"


def test_uploads_and_generated_images_are_kept_as_their_size(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer, make_client: Any
) -> None:
    """An image to edit, an audio file to transcribe and a generated image are data, not a readable
    input or output (as an embedding's vectors): the run keeps their size. LangSmith's serializer
    sent the uploads whole, base64-encoded, and the generated images' b64_json untouched."""
    import io

    from tracewrap.testing.media import PNG_B64

    recorder.zstd = False
    _env(monkeypatch, recorder)
    tracewrap.configure()
    client = make_client()
    scan = b"PRIVATE-SCAN-BYTES" * 1000
    client.images.edit(model="gpt-image-1", image=("scan.png", scan, "image/png"), prompt="crop")
    recording = io.BytesIO(b"PRIVATE-CALL-AUDIO" * 1000)
    recording.name = "call.wav"
    transcript = client.audio.transcriptions.create(model="gpt-4o-transcribe", file=recording)
    edit, transcription = _llm_runs(recorder, 2)
    assert edit["inputs"] == {
        "model": "gpt-image-1",
        "image": ["scan.png", "<18000 bytes>", "image/png"],
        "prompt": "crop",
    }
    assert [image["b64_json"] for image in edit["outputs"]["data"]] == [f"<{len(PNG_B64)} base64 characters>"]
    assert transcription["inputs"] == {"model": "gpt-4o-transcribe", "file": "<file call.wav>"}
    assert transcription["outputs"]["text"] == transcript.text  # a transcript is readable: kept
    sent = b"".join(recorder.raw)
    assert b"PRIVATE" not in sent and b"UFJJVkFURS" not in sent and PNG_B64[:40].encode() not in sent


def test_async_stream_is_posted_at_its_first_chunk(
    monkeypatch: pytest.MonkeyPatch, recorder: LangSmithRecorder, server: FakeOpenAIServer
) -> None:
    """An async stream's run is posted once its first chunk arrives (the first moment wrap_openai's
    run for it, if any, can be seen), then patched when it ends."""
    import asyncio

    _env(monkeypatch, recorder)
    tracewrap.configure()
    server.enqueue(Scenario(chunks=4))

    async def main() -> str:
        client = tracewrap.wrap(openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0))
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        try:
            assert tracewrap.flush(5.0) and not recorder.wait_for_runs(1, timeout=0.3, ended=False)
            first = await stream.__anext__()
            assert tracewrap.flush(5.0)
            (running,) = recorder.wait_for_runs(1, ended=False)
            assert not running.get("end_time") and running["inputs"]["stream"] is True
            return (first.choices[0].delta.content or "") + "".join(
                [c.choices[0].delta.content or "" async for c in stream if c.choices]
            )
        finally:
            await stream.close()
            await client.close()

    assert asyncio.run(main()) == Scenario().text
    (run,) = _llm_runs(recorder, 1)
    assert run["end_time"] and run["outputs"]["choices"][0]["message"]["content"] == Scenario().text
    assert len(recorder.runs) == 1

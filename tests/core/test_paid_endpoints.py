"""Images, audio, moderations, responses.compact and input_tokens.count: one span each, with usage.

The real SDK over HTTP against the fake server, sync and async, through ``wrap(client)`` and
``wrap(openai)``; span attributes, span counts and metric sums asserted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

import tracewrap
from tracewrap.endpoints import DEFAULT_PATHS
from tracewrap.testing import Scenario

from .helpers import API_KEY, async_client, attrs, sync_client

AUDIO = ("clip.wav", b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav")
IMAGE = ("cat.png", b"\x89PNG\r\n\x1a\n", "image/png")
HAS_COMPACT = hasattr(openai.OpenAI(api_key="x").responses, "compact")  # openai 2.x and later


def _token_sum(telemetry: Any, token_type: str) -> int:
    return sum(
        p.value
        for p in telemetry.points("tracewrap.client.token.usage")
        if p.attributes.get("gen_ai.token.type") == token_type
    )


def _cost_points(telemetry: Any) -> list[Any]:
    return telemetry.points("tracewrap.client.cost.usd")


def test_images_generate_has_its_token_usage(server, telemetry) -> None:
    client = sync_client(server, telemetry, estimate_cost=True, provider="openai")
    server.enqueue(Scenario(prompt_tokens=50, completion_tokens=4160, media_input_tokens=0))
    result = client.images.generate(model="gpt-image-1", prompt="a cat", n=2)
    assert len(result.data or []) == 2
    span = telemetry.one_span()
    a = attrs(span)
    assert span.name == "generate_content gpt-image-1"
    assert a["gen_ai.operation.name"] == "generate_content"
    assert a["openai.api.type"] == "images"
    assert a["gen_ai.output.type"] == "image"
    assert a["gen_ai.request.model"] == "gpt-image-1"
    assert a["gen_ai.request.choice.count"] == 2
    assert "gen_ai.response.model" not in a  # the response names none
    assert a["gen_ai.usage.input_tokens"] == 50
    assert a["gen_ai.usage.output_tokens"] == 4160
    assert a["tracewrap.usage.image.output_tokens"] == 4160
    assert a["tracewrap.usage.image.input_tokens"] == 0
    assert "gen_ai.response.finish_reasons" not in a
    # gpt-image-1: $5/M text input, $40/M image output
    assert a["tracewrap.cost.estimate_usd"] == pytest.approx((50 * 5 + 4160 * 40) / 1e6)
    assert _token_sum(telemetry, "output") == 4160
    (cost,) = _cost_points(telemetry)
    assert cost.value == pytest.approx(a["tracewrap.cost.estimate_usd"])


def test_dall_e_reports_no_usage_and_none_is_invented(server, telemetry) -> None:
    client = sync_client(server, telemetry, estimate_cost=True, provider="openai")
    client.images.generate(model="dall-e-3", prompt="a cat")
    client.images.create_variation(image=IMAGE, model="dall-e-2")
    spans = telemetry.spans()
    assert [s.name for s in spans] == ["generate_content dall-e-3", "generate_content dall-e-2"]
    for span in spans:
        assert not any(
            k.startswith(("gen_ai.usage", "tracewrap.usage", "tracewrap.cost")) for k in attrs(span)
        )
    assert telemetry.points("tracewrap.client.token.usage") == []
    assert _cost_points(telemetry) == []
    assert sum(p.count for p in telemetry.points("gen_ai.client.operation.duration")) == 2


def test_images_edit_multipart_and_stream(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(prompt_tokens=300, completion_tokens=1000, media_input_tokens=260))
    client.images.edit(model="gpt-image-1", image=IMAGE, prompt="add a hat")
    server.enqueue(Scenario(prompt_tokens=20, completion_tokens=272))
    events = list(client.images.generate(model="gpt-image-1", prompt="a cat", stream=True))
    assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    edit, streamed = telemetry.spans()
    a = attrs(edit)
    assert (a["gen_ai.usage.input_tokens"], a["tracewrap.usage.image.input_tokens"]) == (300, 260)
    b = attrs(streamed)
    assert b["gen_ai.request.stream"] is True
    assert b["tracewrap.stream.outcome"] == "completed"
    assert (b["gen_ai.usage.input_tokens"], b["gen_ai.usage.output_tokens"]) == (20, 272)
    assert _token_sum(telemetry, "input") == 320


def test_transcription_usage_in_tokens_and_seconds(server, telemetry) -> None:
    client = sync_client(server, telemetry, estimate_cost=True, provider="openai")
    server.enqueue(Scenario(text="hello there", prompt_tokens=80, completion_tokens=3))
    result = client.audio.transcriptions.create(model="gpt-4o-transcribe", file=AUDIO)
    assert result.text == "hello there"
    client.audio.transcriptions.create(model="whisper-1", file=AUDIO)  # usage in seconds: no tokens
    tokens, seconds = telemetry.spans()
    a = attrs(tokens)
    assert tokens.name == "generate_content gpt-4o-transcribe"
    assert a["openai.api.type"] == "audio.transcriptions"
    assert a["gen_ai.output.type"] == "text"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (80, 3)
    assert a["tracewrap.usage.audio.input_tokens"] == 80
    # gpt-4o-transcribe: $6/M audio input, $10/M text output
    assert a["tracewrap.cost.estimate_usd"] == pytest.approx((80 * 6 + 3 * 10) / 1e6)
    b = attrs(seconds)
    assert seconds.name == "generate_content whisper-1"
    assert not any(k.startswith(("gen_ai.usage", "tracewrap.usage", "tracewrap.cost")) for k in b)
    assert _token_sum(telemetry, "input") == 80


def test_transcription_stream_translation_and_speech(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    server.enqueue(Scenario(text="one two three", prompt_tokens=40, completion_tokens=5))
    stream = client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=AUDIO, stream=True)
    assert [e.type for e in stream][-1] == "transcript.text.done"
    client.audio.translations.create(model="whisper-1", file=AUDIO)
    speech = client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="hi")
    assert speech.content.startswith(b"\xff\xfb")  # the audio bytes, untouched
    streamed, translation, spoken = telemetry.spans()
    a = attrs(streamed)
    assert a["tracewrap.stream.outcome"] == "completed"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (40, 5)
    b = attrs(translation)
    assert b["openai.api.type"] == "audio.translations"
    assert "gen_ai.usage.input_tokens" not in b
    c = attrs(spoken)
    assert spoken.name == "generate_content gpt-4o-mini-tts"
    assert (c["openai.api.type"], c["gen_ai.output.type"]) == ("audio.speech", "speech")
    assert "gen_ai.usage.input_tokens" not in c
    assert sum(p.count for p in telemetry.points("gen_ai.client.operation.duration")) == 3


def test_moderation_has_its_id_and_model(server, telemetry) -> None:
    client = sync_client(server, telemetry)
    result = client.moderations.create(input=["a", "b"], model="omni-moderation-latest")
    assert len(result.results) == 2
    span = telemetry.one_span()
    a = attrs(span)
    assert span.name == "moderation omni-moderation-latest"
    assert a["gen_ai.operation.name"] == "moderation"
    assert a["gen_ai.response.model"] == "omni-moderation-2024-09-26"
    assert a["gen_ai.response.id"] == result.id
    assert "gen_ai.usage.input_tokens" not in a


def test_compact_and_count_tokens(server, telemetry) -> None:
    client = sync_client(server, telemetry, estimate_cost=True, provider="openai")
    if not HAS_COMPACT:  # openai 1.x: the default paths name them, and wrapping skips them
        assert not hasattr(client.responses, "compact")
        assert "_tracewrap_installation" in vars(client)
        return
    server.enqueue(
        Scenario(prompt_tokens=2000, completion_tokens=300, cached_tokens=1000, service_tier="flex")
    )
    compacted = client.responses.compact(model="gpt-5", input="a long conversation")
    counted = client.responses.input_tokens.count(model="gpt-5", input="hi")
    assert counted.input_tokens == 12
    compact, count = telemetry.spans()
    a = attrs(compact)
    assert compact.name == "compact_response gpt-5"
    assert a["openai.api.type"] == "responses"
    assert a["gen_ai.response.id"] == compacted.id
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.cache_read.input_tokens"]) == (2000, 1000)
    assert a["openai.response.service_tier"] == "flex"
    # gpt-5 at the flex tier: $0.625/M input, $0.0625/M cached, $5/M output
    assert a["tracewrap.cost.estimate_usd"] == pytest.approx((1000 * 0.625 + 1000 * 0.0625 + 300 * 5) / 1e6)
    (cost,) = _cost_points(telemetry)
    assert cost.attributes["openai.response.service_tier"] == "flex"
    b = attrs(count)
    assert count.name == "count_tokens gpt-5"
    assert "gen_ai.usage.input_tokens" not in b  # a count is not usage: nothing was spent
    assert _cost_points(telemetry)[0].value == pytest.approx(a["tracewrap.cost.estimate_usd"])


def test_async_calls_are_traced_the_same(server, telemetry) -> None:
    client = async_client(server, telemetry)

    async def calls() -> None:
        server.enqueue(Scenario(prompt_tokens=10, completion_tokens=100))
        await client.images.generate(model="gpt-image-1", prompt="a cat")
        server.enqueue(Scenario(prompt_tokens=30, completion_tokens=2))
        stream = await client.audio.transcriptions.create(model="gpt-4o-transcribe", file=AUDIO, stream=True)
        async for _ in stream:
            pass
        response = await client.audio.speech.create(model="tts-1", voice="alloy", input="hi")
        assert response.content.startswith(b"\xff\xfb")
        await client.moderations.create(input="hi")
        if HAS_COMPACT:
            await client.responses.compact(model="gpt-5", input="hi")
            await client.responses.input_tokens.count(model="gpt-5", input="hi")

    asyncio.run(calls())
    names = [s.name for s in telemetry.spans()]
    expected = [
        "generate_content gpt-image-1",
        "generate_content gpt-4o-transcribe",
        "generate_content tts-1",
        "moderation",
    ]
    if HAS_COMPACT:
        expected += ["compact_response gpt-5", "count_tokens gpt-5"]
    assert names == expected
    assert _token_sum(telemetry, "input") == 10 + 30 + (12 if HAS_COMPACT else 0)
    assert _token_sum(telemetry, "output") == 100 + 2 + (7 if HAS_COMPACT else 0)


def test_module_wrap_traces_them_and_paths_narrow(server, telemetry) -> None:
    tracewrap.wrap(openai, **telemetry.wrap_kwargs())
    client = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    client.images.generate(model="gpt-image-1", prompt="a cat")
    client.moderations.create(input="hi")
    if HAS_COMPACT:
        client.responses.input_tokens.count(model="gpt-5", input="hi")
    assert len(telemetry.spans()) == (3 if HAS_COMPACT else 2)
    tracewrap.unwrap(openai)

    narrow = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0)
    tracewrap.wrap(narrow, paths=["moderations.create"], **telemetry.wrap_kwargs())
    narrow.images.generate(model="gpt-image-1", prompt="a cat")  # not in the set: untraced
    narrow.moderations.create(input="hi")
    assert [s.name for s in telemetry.spans()][-1] == "moderation"
    assert len(telemetry.spans()) == (4 if HAS_COMPACT else 3)


def test_default_paths_hold_every_paid_family() -> None:
    for path in (
        "images.generate",
        "images.edit",
        "audio.transcriptions.create",
        "audio.translations.create",
        "audio.speech.create",
        "moderations.create",
        "responses.compact",
        "responses.input_tokens.count",
    ):
        assert path in DEFAULT_PATHS


def test_raw_and_streaming_responses_of_binary_and_json_bodies(server, telemetry, tmp_path, caplog) -> None:
    client = sync_client(server, telemetry)
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="hi") as r:
        r.stream_to_file(tmp_path / "out.mp3")
    assert (tmp_path / "out.mp3").read_bytes().startswith(b"\xff\xfb")
    server.enqueue(Scenario(prompt_tokens=9, completion_tokens=272))
    raw = client.images.with_raw_response.generate(model="gpt-image-1", prompt="a cat")
    assert raw.parse().usage.output_tokens == 272
    speech, image = telemetry.spans()
    assert speech.name == "generate_content tts-1"
    assert "tracewrap.stream.outcome" not in attrs(speech)  # read to its end: not closed early
    assert attrs(image)["gen_ai.usage.output_tokens"] == 272
    assert "internal error" not in caplog.text  # binary audio is not read as JSON

    aclient = async_client(server, telemetry)

    async def read_async() -> bytes:
        async with aclient.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input="hi"
        ) as response:
            return b"".join([chunk async for chunk in response.iter_bytes()])

    assert asyncio.run(read_async()).startswith(b"\xff\xfb")
    assert len(telemetry.spans()) == 3
    assert "tracewrap.stream.outcome" not in attrs(telemetry.spans()[-1])
    assert "internal error" not in caplog.text


def test_audio_and_image_parts_are_read_from_every_usage_shape() -> None:
    from tracewrap.normalize.usage import read_usage

    chat = read_usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 20, "audio_tokens": 60},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 40},
        }
    )
    assert (chat.input_audio_tokens, chat.output_audio_tokens, chat.cache_audio_read_tokens) == (60, 40, None)
    realtime = read_usage(
        {
            "input_tokens": 300,
            "output_tokens": 90,
            "input_token_details": {
                "cached_tokens": 128,
                "audio_tokens": 200,
                "image_tokens": 0,
                "cached_tokens_details": {"audio_tokens": 64, "text_tokens": 64},
            },
            "output_token_details": {"audio_tokens": 70, "text_tokens": 20},
        }
    )
    assert (realtime.cache_read_tokens, realtime.cache_audio_read_tokens) == (128, 64)
    assert (realtime.input_audio_tokens, realtime.input_image_tokens, realtime.output_audio_tokens) == (
        200,
        0,
        70,
    )
    text_only = read_usage(
        {"input_tokens": 5, "output_tokens": 1, "input_tokens_details": {"cached_tokens": 0}}
    )
    assert (text_only.input_audio_tokens, text_only.output_image_tokens, text_only.reasoning_tokens) == (
        None,
        None,
        None,
    )

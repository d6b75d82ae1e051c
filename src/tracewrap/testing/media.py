"""Wire-format bodies of the other paid endpoints: images, audio, moderations, compact, token counts.

As the API returns them: small base64 payloads, the usage blocks each endpoint reports (tokens
for the gpt-image and gpt-4o transcribe models, seconds for ``whisper-1``, none for ``dall-e-*``
or moderations), and binary audio for speech. Pure and deterministic like :mod:`.bodies`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from tracewrap.testing.bodies import JsonDict, Scenario, SSEEvent

__all__ = [
    "SPEECH_BYTES",
    "compact_body",
    "image_events",
    "images_body",
    "input_tokens_body",
    "moderation_body",
    "transcription_body",
    "transcription_events",
    "translation_body",
]

# a 1x1 PNG: the smallest image the SDK's users would decode
_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PNG_B64 = base64.b64encode(_PNG).decode("ascii")
# an MP3 frame header and a few bytes of silence: what speech returns is binary audio, not JSON
SPEECH_BYTES = b"\xff\xfb\x90\x64" + bytes(60)


def _is_token_model(model: str, prefix: str) -> bool:
    return model.startswith(prefix)


def image_usage(scenario: Scenario) -> JsonDict:
    """gpt-image usage: text and image input tokens, image output tokens."""
    image_in = scenario.media_input_tokens or 0
    return {
        "input_tokens": scenario.prompt_tokens,
        "input_tokens_details": {"text_tokens": scenario.prompt_tokens - image_in, "image_tokens": image_in},
        "output_tokens": scenario.completion_tokens,
        "output_tokens_details": {"text_tokens": 0, "image_tokens": scenario.completion_tokens},
        "total_tokens": scenario.prompt_tokens + scenario.completion_tokens,
    }


def images_body(scenario: Scenario, request: Mapping[str, Any], created: int) -> JsonDict:
    """``ImagesResponse``: one base64 image per ``n``; usage only for the gpt-image models."""
    model = str(request.get("model") or "dall-e-2")
    n = request.get("n")
    count = int(n) if isinstance(n, (int, str)) and str(n).isdigit() and int(n) > 0 else 1
    body: JsonDict = {"created": created, "data": [{"b64_json": PNG_B64} for _ in range(count)]}
    if _is_token_model(model, "gpt-image"):
        body.update(background="opaque", output_format="png", quality="low", size="1024x1024")
        if scenario.usage:
            body["usage"] = image_usage(scenario)
    return body


def image_events(scenario: Scenario, request: Mapping[str, Any], created: int, edit: bool) -> list[SSEEvent]:
    """A streamed image generation or edit: one partial image, then the completed one with usage."""
    prefix = "image_edit" if edit else "image_generation"
    common = {"background": "opaque", "created_at": created, "output_format": "png", "quality": "low"}
    partial = {
        "type": f"{prefix}.partial_image",
        "b64_json": PNG_B64,
        "partial_image_index": 0,
        "size": "1024x1024",
        **common,
    }
    done: JsonDict = {"type": f"{prefix}.completed", "b64_json": PNG_B64, "size": "1024x1024", **common}
    done["usage"] = image_usage(scenario)
    return [(partial["type"], partial), (done["type"], done)]


def _transcript_usage(scenario: Scenario, model: str) -> JsonDict | None:
    if not scenario.usage:
        return None
    if model.startswith("whisper"):
        return {"type": "duration", "seconds": 3}
    audio = scenario.prompt_tokens if scenario.media_input_tokens is None else scenario.media_input_tokens
    return {
        "type": "tokens",
        "input_tokens": scenario.prompt_tokens,
        "input_token_details": {"text_tokens": scenario.prompt_tokens - audio, "audio_tokens": audio},
        "output_tokens": scenario.completion_tokens,
        "total_tokens": scenario.prompt_tokens + scenario.completion_tokens,
    }


def transcription_body(scenario: Scenario, request: Mapping[str, Any]) -> JsonDict:
    """``Transcription`` (json format): text, and usage in tokens or seconds by model."""
    body: JsonDict = {"text": scenario.text}
    usage = _transcript_usage(scenario, str(request.get("model") or "whisper-1"))
    if usage is not None:
        body["usage"] = usage
    return body


def transcription_events(scenario: Scenario, request: Mapping[str, Any]) -> list[SSEEvent]:
    """A streamed transcription (gpt-4o transcribe models): text deltas, then done with usage."""
    events: list[SSEEvent] = []
    for word in scenario.text.split(" "):
        delta = {"type": "transcript.text.delta", "delta": word + " "}
        events.append((delta["type"], delta))
    done: JsonDict = {"type": "transcript.text.done", "text": scenario.text}
    usage = _transcript_usage(scenario, str(request.get("model") or "gpt-4o-transcribe"))
    if usage is not None:
        done["usage"] = usage
    events.append((done["type"], done))
    return events


def translation_body(scenario: Scenario) -> JsonDict:
    """``Translation``: text only (``whisper-1`` reports no usage here)."""
    return {"text": scenario.text}


def moderation_body(scenario: Scenario, request: Mapping[str, Any], id: str) -> JsonDict:
    """``ModerationCreateResponse``: one result per input, the model's dated name, no usage."""
    raw = request.get("input")
    count = len(raw) if isinstance(raw, list) else 1
    categories = ("harassment", "hate", "self-harm", "sexual", "violence")
    result = {
        "flagged": False,
        "categories": dict.fromkeys(categories, False),
        "category_scores": dict.fromkeys(categories, 0.0001),
        "category_applied_input_types": {c: ["text"] for c in categories},
    }
    model = scenario.model or str(request.get("model") or "omni-moderation-latest")
    if model == "omni-moderation-latest":
        model = "omni-moderation-2024-09-26"
    return {"id": id, "model": model, "results": [result for _ in range(count)]}


def compact_body(scenario: Scenario, request: Mapping[str, Any], id: str, created: int) -> JsonDict:
    """``CompactedResponse``: the compacted output items and the usage of the compaction."""
    usage: JsonDict = {
        "input_tokens": scenario.prompt_tokens,
        "input_tokens_details": {"cached_tokens": scenario.cached_tokens or 0},
        "output_tokens": scenario.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": scenario.reasoning_tokens or 0},
        "total_tokens": scenario.prompt_tokens + scenario.completion_tokens,
    }
    body: JsonDict = {
        "id": id,
        "object": "response.compaction",
        "created_at": created,
        "output": [{"type": "compaction", "id": f"cmp_{id[5:]}", "encrypted_content": "gAAAAB-fake"}],
        "usage": usage,
    }
    if scenario.service_tier is not None:
        body["service_tier"] = scenario.service_tier
    return body


def input_tokens_body(scenario: Scenario) -> JsonDict:
    """``InputTokenCountResponse``: a count, not usage (nothing is generated or billed)."""
    return {"object": "response.input_tokens", "input_tokens": scenario.prompt_tokens}

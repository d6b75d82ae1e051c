"""The one normalized shape every API's call is read into.

Chat completions, the Responses API, legacy completions and embeddings all report usage, finish
reasons and status differently; the normalizers in :mod:`tracewrap.normalize` turn each into a
:class:`CallRecord`, and :mod:`tracewrap.telemetry` turns a record into a span and metric points.
A field the response did not report stays ``None``: absent, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AttributeValue = str | bool | int | float | tuple[str, ...]


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    # written to the prompt cache by this call (openai 3.x's ``cache_write_tokens``), of input_tokens
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    # modality splits, each a part of input_tokens / output_tokens / cache_read_tokens, where the
    # response reports them (chat audio, gpt-image, gpt-4o transcribe, realtime)
    input_audio_tokens: int | None = None
    input_image_tokens: int | None = None
    output_audio_tokens: int | None = None
    output_image_tokens: int | None = None
    cache_audio_read_tokens: int | None = None

    def is_empty(self) -> bool:
        return self.input_tokens is None and self.output_tokens is None and self.total_tokens is None


@dataclass(slots=True)
class CallRecord:
    """What one logical SDK call asked for and what came back."""

    operation: str
    api_type: str | None
    provider: str
    request_model: str | None = None
    server_address: str | None = None
    server_port: int | None = None
    stream: bool = False
    # a stream asked for its usage chunk (stream_options include_usage): it comes after the finish
    usage_requested: bool = False
    # gen_ai.request.* and openai.request.* attributes that the call really passed
    request_attributes: dict[str, AttributeValue] = field(default_factory=dict)

    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: tuple[str, ...] | None = None
    # Responses API lifecycle status: completed, incomplete, failed, cancelled, queued, in_progress
    status: str | None = None
    service_tier: str | None = None
    system_fingerprint: str | None = None
    usage: Usage = field(default_factory=Usage)

    error_type: str | None = None
    error_message: str | None = None
    http_status_code: int | None = None

    # False when this call must not count usage, cost or a finish: a fetch of a response counted
    # elsewhere, a background create still pending (see tracewrap.telemetry.counting)
    counted: bool = True
    # the call was cancelled by its caller (asyncio cancellation): its own outcome, not an error
    cancelled: bool = False

    # streams: how it ended (completed, closed_early, abandoned, error, incomplete) and its timing
    stream_outcome: str | None = None
    # a stream ended before every choice it asked for (``n``) finished: the finish_reasons above
    # are the choices' that did
    choices_unfinished: bool = False
    time_to_first_chunk: float | None = None
    chunk_count: int = 0
    time_per_output_chunk: float | None = None

    # content, only filled when capture is on (JSON-ready structures)
    input_messages: list[dict[str, Any]] | None = None
    system_instructions: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None

    @property
    def failed(self) -> bool:
        return self.error_type is not None

    @property
    def main_finish_reason(self) -> str | None:
        """The call's one finish reason, or ``error`` for a failed call; for low-cardinality metrics."""
        if self.finish_reasons:
            return main_reason(self.finish_reasons)
        return "error" if self.failed else None


# a call with several choices (``n``) is counted once: by its first choice's reason, unless one of
# them was filtered or truncated, which the call's count must not hide (whatever the choices' order)
_NOTABLE_REASONS = ("content_filter", "length")


def main_reason(reasons: tuple[str, ...]) -> str:
    """The one reason a call is counted under, of its choices' (``reasons``, not empty)."""
    if len(reasons) > 1:
        for notable in _NOTABLE_REASONS:
            if notable in reasons:
                return notable
    return reasons[0]

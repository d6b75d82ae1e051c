"""Images, audio, moderations, compacted responses and token counts: what each response reports.

None of these has a finish reason. Images report usage in tokens for the gpt-image models only
(``dall-e-*``: none); transcriptions in tokens for the gpt-4o transcribe models and in seconds
for ``whisper-1`` (seconds are not tokens: left out); speech returns binary audio and
translations, moderations and token counts report no usage at all. The model comes from the
request where the response names none (images, audio).
"""

from __future__ import annotations

from typing import Any

from tracewrap.normalize.usage import read_usage_into
from tracewrap.normalize.values import as_str, field
from tracewrap.record import CallRecord

# streamed images and transcriptions end with one event that carries the usage
TERMINAL_MEDIA_EVENTS = frozenset(
    {"image_generation.completed", "image_edit.completed", "transcript.text.done"}
)


def _read_token_usage(usage: Any, record: CallRecord) -> None:
    # a transcription's usage is {"type": "duration", "seconds": ...} for whisper-1: no tokens
    if usage is not None and field(usage, "type") != "duration":
        read_usage_into(usage, record.usage)


def read_media(response: Any, record: CallRecord, capture_content: bool = False) -> None:
    """``ImagesResponse``, ``Transcription`` / ``Translation`` (or their text formats: a ``str``)."""
    _read_token_usage(field(response, "usage"), record)


def read_moderation(response: Any, record: CallRecord, capture_content: bool = False) -> None:
    record.response_id = as_str(field(response, "id")) or record.response_id
    record.response_model = as_str(field(response, "model")) or record.response_model


def read_compacted(response: Any, record: CallRecord, capture_content: bool = False) -> None:
    """``CompactedResponse``: an id, the usage of the compaction and the tier it ran on."""
    record.response_id = as_str(field(response, "id")) or record.response_id
    record.response_model = as_str(field(response, "model")) or record.response_model
    record.service_tier = as_str(field(response, "service_tier")) or record.service_tier
    usage = field(response, "usage")
    if usage is not None:
        read_usage_into(usage, record.usage)


def read_nothing(response: Any, record: CallRecord, capture_content: bool = False) -> None:
    """Speech (binary audio) and token counts (a count, not usage: nothing was generated)."""


class MediaStreamAccumulator:
    """A streamed image or transcription: only the terminal event (with the usage) is kept."""

    __slots__ = ("_final",)

    def __init__(self, capture_content: bool = False) -> None:
        self._final: Any = None

    def add(self, event: Any) -> None:
        try:
            kind = event.type
        except Exception:
            kind = field(event, "type")
        if kind.__class__ is str and kind in TERMINAL_MEDIA_EVENTS:
            self._final = event

    @property
    def finished(self) -> bool:
        return self._final is not None

    def final(self) -> Any:
        return self._final

    def finish(self, record: CallRecord) -> None:
        if self._final is not None:
            _read_token_usage(field(self._final, "usage"), record)

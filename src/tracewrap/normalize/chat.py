"""Chat completions (and legacy text completions): full responses and streamed chunks.

A chat stream reports its finish reason per choice in some chunk, and its usage only in a last
chunk with empty ``choices``, and only when the request asked for
``stream_options={"include_usage": True}``; without it usage stays absent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import GEN_AI_REQUEST_CHOICE_COUNT

from tracewrap.normalize.usage import read_usage_into
from tracewrap.normalize.values import as_int, as_list, as_str, field, fields_of
from tracewrap.record import CallRecord


def _read_envelope(get: Callable[[str], Any], record: CallRecord) -> None:
    """``get``: the ``.get`` of :func:`~tracewrap.normalize.values.fields_of` the response or chunk.

    A field that is not a non-empty string leaves the record's value as it was. Field by field,
    checked with ``isinstance`` rather than ``as_str`` (a function call each: with the usage
    counts' calls, +6 to +9 µs per call in paired benchmarks/ab.py); a ``setattr`` loop 10-19 µs.
    """
    value = get("id")
    if isinstance(value, str) and value:
        record.response_id = value
    value = get("model")
    if isinstance(value, str) and value:
        record.response_model = value
    value = get("system_fingerprint")
    if isinstance(value, str) and value:
        record.system_fingerprint = value
    value = get("service_tier")
    if isinstance(value, str) and value:
        record.service_tier = value


def read_chat_completion(response: Any, record: CallRecord, capture_content: bool = False) -> None:
    """A ``chat.completion`` (also ``ParsedChatCompletion``) or a ``text_completion`` body."""
    get = fields_of(response).get
    _read_envelope(get, record)
    choices = get("choices")
    reasons = []
    if isinstance(choices, (list, tuple)):  # anything else (a broken server's scalar) has no choices
        for choice in choices:
            try:  # an SDK model's own attribute; a dict or anything odd goes through field()
                reason = choice.finish_reason
            except Exception:
                reason = field(choice, "finish_reason")
            if isinstance(reason, str) and reason:
                reasons.append(reason)
        if len(reasons) > 1:  # in choice order (``index``), as a stream's are, whatever the list's
            reasons = _by_index(choices)
    record.finish_reasons = tuple(reasons) or None
    usage = get("usage")
    if usage is not None:
        read_usage_into(usage, record.usage)
    if capture_content and choices and isinstance(choices, (list, tuple)):
        record.output_messages = [_output_message(choice) for choice in choices]


def _by_index(choices: list[Any] | tuple[Any, ...]) -> list[str]:
    """The choices' finish reasons ordered by their ``index`` (one without an index: 0), each
    choice's position in the list breaking ties."""
    indexed = []
    for position, choice in enumerate(choices):
        reason = field(choice, "finish_reason")
        if isinstance(reason, str) and reason:
            indexed.append((as_int(field(choice, "index")) or 0, position, reason))
    return [reason for _index, _position, reason in sorted(indexed)]


def _output_message(choice: Any) -> dict[str, Any]:
    message = field(choice, "message")
    parts: list[dict[str, Any]] = []
    text = as_str(field(message, "content")) if message is not None else as_str(field(choice, "text"))
    if text:
        parts.append({"type": "text", "content": text})
    for call in as_list(field(message, "tool_calls")):
        function = field(call, "function")
        parts.append(
            {
                "type": "tool_call",
                "id": as_str(field(call, "id")),
                "name": as_str(field(function, "name")),
                "arguments": as_str(field(function, "arguments")),
            }
        )
    return {
        "role": as_str(field(message, "role")) or "assistant",
        "parts": parts,
        "finish_reason": as_str(field(choice, "finish_reason")),
    }


class ChatStreamAccumulator:
    """Folds ``chat.completion.chunk`` (or streamed ``text_completion``) objects as they pass.

    Keeps only scalars and one finish reason per choice; text is kept only when content capture
    is on, so memory does not grow with the length of the stream. Two chunks are kept for their
    envelope (id, model, fingerprint, tier): the first with an ``id``, and the last with usage,
    whose non-empty fields win (a compatible server's usage chunk may carry no envelope at all).

    With content capture off, once the envelope is read (the first chunk with an ``id``), :meth:`add`
    changes nothing for a chunk whose ``usage`` is None and whose choices have no ``finish_reason``:
    ``skips_plain_chunks`` turns True then, and tells the stream code it need not call it for those
    (most of a stream). Azure OpenAI's first chunk carries only the prompt's content-filter results,
    with an empty ``id`` and ``model``: the envelope is the next chunk's.
    """

    __slots__ = (
        "_capture",
        "_envelope",
        "_envelope_read",
        "_last_usage",
        "_reasons",
        "_short",
        "_texts",
        "_tool_calls",
        "_usage",
        "skips_plain_chunks",
    )

    def __init__(self, capture_content: bool = False) -> None:
        self._capture = capture_content
        self.skips_plain_chunks = False  # until the envelope is read
        self._reasons: dict[int, str] = {}
        self._short = False  # finish found choices that never finished (see finish)
        self._texts: dict[int, list[str]] = {}
        self._tool_calls: dict[int, dict[int, dict[str, Any]]] = {}
        self._usage: Any = None
        self._envelope_read = False
        self._envelope: Any = None  # the first chunk with an id (else the first chunk)
        self._last_usage: Any = None  # the last chunk that carried usage

    def add(self, chunk: Any) -> None:
        if not self._envelope_read:
            self._read_envelope_of(chunk)
        # every chunk passes here: an SDK model's own attributes are read directly (a plain
        # attribute read, several times cheaper than field()); a dict or anything odd, whose
        # attribute read raises, goes through field(), which never does
        try:
            choices = chunk.choices
            usage = chunk.usage
        except Exception:
            choices = field(chunk, "choices")
            usage = field(chunk, "usage")
        if isinstance(choices, (list, tuple)):  # anything else (a broken server's scalar) is skipped
            for choice in choices:
                try:
                    reason = choice.finish_reason
                    index = choice.index
                except Exception:
                    reason = field(choice, "finish_reason")
                    index = field(choice, "index")
                # "" (sent on every chunk by some compatible servers) is not a finish
                if reason and isinstance(reason, str):
                    self._reasons[as_int(index) or 0] = reason
                if self._capture:
                    self._capture_delta(choice)
        # usage is read on every chunk, not only on the last one: the usage chunk has empty
        # choices with include_usage, but compatible servers also send it with the finish reason
        # or (vLLM's continuous usage stats) on every chunk, and the last one wins
        if usage is not None:
            self._usage = usage
            self._last_usage = chunk  # the usage chunk carries the final envelope, where it has one

    def _read_envelope_of(self, chunk: Any) -> None:
        """The first chunk is kept for its envelope, unless a later one has the ``id`` it lacks."""
        try:
            chunk_id = chunk.id
        except Exception:
            chunk_id = field(chunk, "id")
        has_id = isinstance(chunk_id, str) and chunk_id != ""
        if has_id or self._envelope is None:
            self._envelope = chunk
        if has_id:
            self._envelope_read = True
            self.skips_plain_chunks = not self._capture

    def _capture_delta(self, choice: Any) -> None:
        index = as_int(field(choice, "index")) or 0
        delta = field(choice, "delta")
        text = field(delta, "content") if delta is not None else field(choice, "text")
        if isinstance(text, str) and text:
            self._texts.setdefault(index, []).append(text)
        for call in as_list(field(delta, "tool_calls")):
            slot = self._tool_calls.setdefault(index, {}).setdefault(
                as_int(field(call, "index")) or 0, {"type": "tool_call", "arguments": ""}
            )
            call_id = as_str(field(call, "id"))
            if call_id:
                slot["id"] = call_id
            function = field(call, "function")
            name = as_str(field(function, "name"))
            if name:
                slot["name"] = name
            arguments = field(function, "arguments")
            if isinstance(arguments, str):
                slot["arguments"] += arguments

    @property
    def finished(self) -> bool:
        """Whether the stream's end arrived (read after :meth:`finish`): a finish reason, and one for
        every choice asked for (``n``) once the server shows it answers several (a choice other
        than the first finished). A stream that ends short of that was cut off. (Lenient on purpose
        where the finishes cannot tell: a compatible server may ignore ``n`` and answer one choice,
        or ignore ``include_usage``; so a stream cut after only the first choice's finish counts.)"""
        return bool(self._reasons) and not self._short

    def all_arrived(self, record: CallRecord) -> bool:
        """Whether a stream its reader closed had nothing left to send: every choice the request
        asked for (``n``) has its finish reason, and the usage chunk, which comes after the last
        finish, arrived if the request asked for it."""
        reasons = self._reasons
        if not reasons:
            return False
        expected = record.request_attributes.get(GEN_AI_REQUEST_CHOICE_COUNT)
        if isinstance(expected, int) and len(reasons) < expected:
            return False
        return self._usage is not None or not record.usage_requested

    def final(self) -> dict[str, Any] | None:
        """The completion the stream amounts to, as the SDK dumps a non-streamed one (a dict).

        The envelope (id, model, created, ...) comes from the usage chunk if it has an ``id``, else
        from the first chunk that had one; the choices from what was folded in (text only when
        content capture is on). Usage is left to the record.
        """
        last = self._last_usage
        last_id = field(last, "id")
        if not isinstance(last_id, str) or not last_id:  # (no usage chunk, or one without an envelope)
            last = self._envelope
        if last is None:
            return None
        try:
            envelope = last.model_dump(mode="json", warnings=False)
        except Exception:
            try:  # openai's models on pydantic 1 refuse `warnings` (they have none to give)
                envelope = last.model_dump(mode="json")
            except Exception:
                envelope = dict(last) if isinstance(last, dict) else {}
        envelope.pop("usage", None)
        legacy = envelope.get("object") == "text_completion"
        if not legacy:
            envelope["object"] = "chat.completion"
        indexes = sorted(set(self._texts) | set(self._tool_calls) | set(self._reasons))
        choices: list[dict[str, Any]] = []
        for i in indexes:
            text = "".join(self._texts[i]) if i in self._texts else None
            if legacy:
                choices.append({"index": i, "text": text or "", "finish_reason": self._reasons.get(i)})
                continue
            message: dict[str, Any] = {"role": "assistant", "content": text}
            calls = self._tool_calls.get(i)
            if calls:
                message["tool_calls"] = [
                    {
                        "id": calls[k].get("id"),
                        "type": "function",
                        "function": {"name": calls[k].get("name"), "arguments": calls[k]["arguments"]},
                    }
                    for k in sorted(calls)
                ]
            choices.append({"index": i, "finish_reason": self._reasons.get(i), "message": message})
        envelope["choices"] = choices
        return envelope

    def finish(self, record: CallRecord) -> None:
        if self._envelope is not None:
            _read_envelope(fields_of(self._envelope).get, record)
        last_usage = self._last_usage
        if last_usage is not None and last_usage is not self._envelope:
            _read_envelope(fields_of(last_usage).get, record)  # its non-empty fields win
        reasons = self._reasons
        if len(reasons) == 1:  # one choice: no sort, no generator
            record.finish_reasons = tuple(reasons.values())
            if 0 not in reasons:  # a later choice finished, the first did not
                self._short = _fewer_than_asked(reasons, record)
        elif reasons:
            # only the choices that finished: a missing one is left out, never given a reason
            record.finish_reasons = tuple([reasons[i] for i in sorted(reasons)])
            self._short = _fewer_than_asked(reasons, record)
        if self._usage is not None:
            read_usage_into(self._usage, record.usage)
        if self._capture:
            indexes = sorted(set(self._texts) | set(self._tool_calls) | set(self._reasons))
            record.output_messages = [
                {
                    "role": "assistant",
                    "parts": (
                        [{"type": "text", "content": "".join(self._texts[i])}] if i in self._texts else []
                    )
                    + [self._tool_calls[i][k] for k in sorted(self._tool_calls.get(i, {}))],
                    "finish_reason": self._reasons.get(i),
                }
                for i in indexes
            ]


def _fewer_than_asked(reasons: dict[int, str], record: CallRecord) -> bool:
    """Whether fewer choices finished than the request asked for (``n``)."""
    expected = record.request_attributes.get(GEN_AI_REQUEST_CHOICE_COUNT)
    return isinstance(expected, int) and len(reasons) < expected

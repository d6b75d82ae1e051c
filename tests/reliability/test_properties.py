"""Property-based tests: every normalizer and accumulator, on arbitrary and malformed input.

For each reader the properties are the same: it does not raise; every attribute that
``start_attributes`` / ``end_attributes`` / ``metric_attributes`` make of the resulting record is a
valid OpenTelemetry attribute value; and token counts are never invented — a count is recorded only
when the input carried a non-negative int under one of that count's names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import openai
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai._models import construct_type
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response
from pydantic import BaseModel as PydanticModel

from tracewrap.normalize import content, requests
from tracewrap.normalize.chat import ChatStreamAccumulator, read_chat_completion
from tracewrap.normalize.embeddings import read_embeddings, read_generic
from tracewrap.normalize.responses import (
    TERMINAL_EVENTS,
    ResponsesStreamAccumulator,
    finish_reason_for,
    read_response,
)
from tracewrap.normalize.usage import read_usage
from tracewrap.normalize.values import field, fields_of
from tracewrap.record import CallRecord, Usage
from tracewrap.telemetry import attributes
from tracewrap.telemetry.attributes import end_attributes
from tracewrap.telemetry.content import (
    ATTRIBUTE_BOUND_FACTOR,
    STRUCTURE_KEYS,
    TRUNCATION_MARKER,
    content_attributes,
    cut_values,
)

from .helpers import INT64_MAX, assert_valid_attributes

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


class _Huge(str):
    def __repr__(self) -> str:  # keep failure reports readable
        return f"<{len(self)} chars>"


HUGE = _Huge("x" * 1_000_000)  # built once: hypothesis need not generate a megabyte


class Hostile:
    """An object whose every attribute read raises: a proxy or a half-built model."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)  # let repr/pretty-printing work
        raise RuntimeError(f"no {name} here")

    def __repr__(self) -> str:
        return "Hostile()"


# --------------------------------------------------------------------------- strategies

# attribute names junk objects may carry; never a token-count name, so junk holds no token counts
_JUNK_NAMES = ["a", "type", "text", "content", "id", "index", "delta", "finish_reason", "role", "status"]
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.sampled_from([openai.NOT_GIVEN, openai.omit, openai.Omit(), HUGE, Hostile(), object(), ...]),
)
junk = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.sampled_from(_JUNK_NAMES), inner, max_size=4),
        st.builds(
            lambda d: SimpleNamespace(**d), st.dictionaries(st.sampled_from(_JUNK_NAMES), inner, max_size=3)
        ),
    ),
    max_leaves=10,
)
text_or_junk = st.one_of(st.text(max_size=30), st.just(HUGE), junk)
token = st.one_of(
    st.integers(min_value=0, max_value=2**31),
    st.integers(min_value=-5, max_value=-1),
    st.sampled_from([0, 2**63 - 1, 2**63, 2**70]),  # int64 bounds: OTLP cannot encode beyond them
    junk,
)

_TOKEN_KEYS = ("input_tokens", "prompt_tokens", "output_tokens", "completion_tokens", "total_tokens")
usage_dicts = st.fixed_dictionaries(
    {},
    optional={
        **{key: token for key in _TOKEN_KEYS},
        "prompt_tokens_details": st.one_of(
            st.fixed_dictionaries({}, optional={"cached_tokens": token}), junk
        ),
        "input_tokens_details": st.one_of(st.fixed_dictionaries({}, optional={"cached_tokens": token}), junk),
        "completion_tokens_details": st.one_of(
            st.fixed_dictionaries({}, optional={"reasoning_tokens": token}), junk
        ),
        "output_tokens_details": st.one_of(
            st.fixed_dictionaries({}, optional={"reasoning_tokens": token}), junk
        ),
    },
)
usage_or_junk = st.one_of(usage_dicts, junk)

finish = st.one_of(st.sampled_from(["stop", "length", "tool_calls", "content_filter", ""]), junk)
tool_call = st.fixed_dictionaries(
    {},
    optional={
        "index": st.one_of(st.integers(0, 3), junk),
        "id": text_or_junk,
        "function": st.one_of(
            st.fixed_dictionaries({}, optional={"name": text_or_junk, "arguments": text_or_junk}), junk
        ),
    },
)
message = st.fixed_dictionaries(
    {},
    optional={
        "role": text_or_junk,
        "content": text_or_junk,
        "tool_calls": st.one_of(st.lists(tool_call, max_size=3), junk),
    },
)
chat_choice = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "index": st.one_of(st.integers(0, 3), junk),
            "finish_reason": finish,
            "message": st.one_of(message, junk),
            "delta": st.one_of(message, junk),
            "text": text_or_junk,
        },
    ),
    junk,
)
envelope = {
    "id": text_or_junk,
    "model": text_or_junk,
    "system_fingerprint": text_or_junk,
    "service_tier": text_or_junk,
}
chat_bodies = st.fixed_dictionaries(
    {},
    optional={
        **envelope,
        "choices": st.one_of(st.lists(chat_choice, max_size=4), junk),
        "usage": usage_or_junk,
    },
)

STATUSES = ["completed", "incomplete", "failed", "cancelled", "queued", "in_progress"]
output_item = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.one_of(
                st.sampled_from(
                    [
                        "message",
                        "function_call",
                        "reasoning",
                        "mcp_approval_request",
                        "computer_call",
                        "function_call_output",
                        "web_search_call",
                    ]
                ),
                junk,
            )
        },
        optional={
            "content": st.one_of(
                st.lists(st.fixed_dictionaries({}, optional={"text": text_or_junk, "refusal": text_or_junk})),
                junk,
            ),
            "call_id": text_or_junk,
            "name": text_or_junk,
            "arguments": text_or_junk,
        },
    ),
    junk,
)
response_bodies = st.fixed_dictionaries(
    {},
    optional={
        **envelope,
        "status": st.one_of(st.sampled_from(STATUSES), junk),
        "output": st.one_of(st.lists(output_item, max_size=4), junk),
        "incomplete_details": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "reason": st.one_of(st.sampled_from(["max_output_tokens", "content_filter"]), junk)
                },
            ),
            junk,
        ),
        "error": st.one_of(
            st.fixed_dictionaries({}, optional={"code": text_or_junk, "message": text_or_junk}), junk
        ),
        "usage": usage_or_junk,
    },
)
EVENT_TYPES = [
    *sorted(TERMINAL_EVENTS),
    "response.created",
    "response.in_progress",
    "response.queued",
    "error",
    "response.output_text.delta",
    "response.output_item.added",
    "response.something_new",
]
response_events = st.one_of(
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(EVENT_TYPES), junk)},
        optional={
            "response": st.one_of(response_bodies, junk),
            "code": text_or_junk,
            "message": text_or_junk,
        },
    ),
    junk,
)


def _namespace(value: Any) -> Any:
    """The same data as attribute objects instead of dicts (how SDK models are read)."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _namespace(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_namespace(v) for v in value]
    return value


def shaped(
    bodies: st.SearchStrategy[dict[str, Any]], model: type | None
) -> st.SearchStrategy[tuple[Any, Any]]:
    """(original dict, the same as a dict / attribute object / unvalidated SDK model)."""

    def build(body: dict[str, Any], shape: str) -> tuple[Any, Any]:
        if shape == "namespace":
            return body, _namespace(body)
        if shape == "model" and model is not None:
            # no validation, but the SDK's construct() still builds nested models and may coerce a
            # value there (``completion_tokens=True`` becomes 1 in CompletionUsage): what the
            # reader must report is what the object holds, so the expectation is read back from it
            constructed = model.model_construct(**body)
            return _as_plain(constructed), constructed
        return body, body

    return st.builds(build, bodies, st.sampled_from(["dict", "namespace", "model"]))


# --------------------------------------------------------------------------- oracles


def _valid_count(value: Any) -> int | None:
    """A count is a non-negative int that OTLP can carry (signed 64-bit), or a whole float of one
    (a compatible server's JSON ``12.0``)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64_MAX:
        return value
    if isinstance(value, float) and value.is_integer() and 0 <= value <= INT64_MAX:
        return int(value)
    return None


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else None


def _as_plain(value: Any) -> Any:
    """A constructed SDK model as the plain dicts and lists it holds (extras included)."""
    if isinstance(value, PydanticModel):
        fields = {**vars(value), **(getattr(value, "__pydantic_extra__", None) or {})}
        return {name: _as_plain(item) for name, item in fields.items()}
    if isinstance(value, list):
        return [_as_plain(item) for item in value]
    return value


def expected_usage(usage: Any) -> Usage:
    """What a usage dict must read as; anything but a dict carries no counts (see _JUNK_NAMES)."""
    if not isinstance(usage, Mapping):
        return Usage()

    def first_valid(*names: str) -> int | None:
        for name in names:
            found = _valid_count(usage.get(name))
            if found is not None:
                return found
        return None

    def detail(names: tuple[str, str], key: str) -> int | None:
        details = usage.get(names[0])
        if details is None:
            details = usage.get(names[1])
        return _valid_count(_get(details, key))

    return Usage(
        input_tokens=first_valid("input_tokens", "prompt_tokens"),
        output_tokens=first_valid("output_tokens", "completion_tokens"),
        cache_read_tokens=detail(("input_tokens_details", "prompt_tokens_details"), "cached_tokens"),
        reasoning_tokens=detail(("output_tokens_details", "completion_tokens_details"), "reasoning_tokens"),
        total_tokens=_valid_count(usage.get("total_tokens")),
    )


def counts_in(value: Any, depth: int = 0) -> set[int]:
    """Every valid count anywhere in ``value`` under a token-count name."""
    found: set[int] = set()
    if depth > 12:
        return found
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and key.endswith("tokens"):
                count = _valid_count(item)
                if count is not None:
                    found.add(count)
            found |= counts_in(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found |= counts_in(item, depth + 1)
    return found


def new_record(operation: str = "chat", api_type: str | None = "chat_completions") -> CallRecord:
    return CallRecord(operation=operation, api_type=api_type, provider="openai")


def start_attributes(record: CallRecord) -> dict[str, Any]:
    return attributes.start_attributes(record, attributes.shared_attributes(record))


def metric_attributes(record: CallRecord) -> dict[str, Any]:
    return attributes.metric_attributes(record, attributes.shared_attributes(record))


def check_record(record: CallRecord, source: Any) -> None:
    """The record makes valid attributes, never invents token counts, and its content is JSON."""
    for attrs in (start_attributes(record), end_attributes(record), metric_attributes(record)):
        assert_valid_attributes(attrs)
    allowed = counts_in(source)
    usage = record.usage
    for name in ("input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens", "total_tokens"):
        value = getattr(usage, name)
        assert value is None or (type(value) is int and value in allowed), (name, value, allowed)
    assert record.finish_reasons is None or (
        record.finish_reasons and all(isinstance(r, str) and r for r in record.finish_reasons)
    )
    for attrs in (content_attributes(record, 100, None), content_attributes(record, 100, str.upper)):
        for key, value in attrs.items():
            assert isinstance(value, str) and key.startswith("gen_ai.")
            check_bounded_content(json.loads(value), 100)


def _strings(value: Any) -> list[str]:
    """The text values of recorded content (the structure's own fields, kept whole, left out)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [
            text
            for key, item in value.items()
            if not (key in STRUCTURE_KEYS and isinstance(item, str))
            for text in _strings(item)
        ]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _value_fits(text: str, max_length: int) -> bool:
    """At most ``max_length`` characters, plus the marker that says how many were cut."""
    if len(text) <= max_length:
        return True
    head, marker, rest = text.rpartition("…[truncated ")
    if not marker or not rest.endswith(" chars]") or not rest[: -len(" chars]")].isdigit():
        return False
    return len(head) <= max_length and text == head + TRUNCATION_MARKER.format(int(rest[:-7]))


def check_bounded_content(parsed: Any, max_length: int) -> None:
    assert isinstance(parsed, list)
    for text in _strings(parsed):
        assert _value_fits(text, max_length), (len(text), text[-40:])


# --------------------------------------------------------------------------- content size limit

text_values = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
message_lists = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "system", "assistant", "tool"]),
            "parts": st.lists(
                st.one_of(
                    st.fixed_dictionaries({"type": st.just("text"), "content": text_values}),
                    st.fixed_dictionaries(
                        {
                            "type": st.just("tool_call"),
                            "id": st.text(max_size=10),
                            "name": st.text(max_size=10),
                            "arguments": text_values,
                        }
                    ),
                    st.fixed_dictionaries(
                        {"type": st.just("tool_call_response"), "response": st.one_of(text_values, junk)}
                    ),
                ),
                max_size=4,
            ),
        }
    ),
    min_size=1,
    max_size=12,
)


@PROPERTY
@given(message_lists, st.integers(min_value=1, max_value=300))
def test_content_over_the_limit_stays_json_with_every_message(messages: list[Any], max_length: int) -> None:
    record = new_record()
    record.input_messages = messages
    (value,) = content_attributes(record, max_length, None).values()
    parsed = json.loads(value)  # always parses
    assert len(parsed) == len(messages)  # every message present, in order, with every part
    assert [m["role"] for m in parsed] == [m["role"] for m in messages]  # kept whole
    assert [len(m["parts"]) for m in parsed] == [len(m["parts"]) for m in messages]
    check_bounded_content(parsed, max_length)  # no value over the limit plus its marker
    # the whole attribute is bounded, unless the structure alone (every value emptied) is larger
    emptied = json.dumps(cut_values(messages, 0), ensure_ascii=False)  # every text value at 0 + marker
    assert len(value) <= max(ATTRIBUTE_BOUND_FACTOR * max_length, len(emptied))
    # nothing is cut when it all fits
    if len(json.dumps(messages, ensure_ascii=False, default=str)) <= max_length:
        assert parsed == json.loads(json.dumps(messages, ensure_ascii=False, default=str))


def test_a_long_document_then_a_question_keeps_the_question() -> None:
    record = new_record()
    record.input_messages = [
        {"role": "user", "parts": [{"type": "text", "content": "d" * 24_000}]},
        {"role": "user", "parts": [{"type": "text", "content": "What does it say?"}]},
    ]
    (value,) = content_attributes(record, 16_384, None).values()
    parsed = json.loads(value)
    assert parsed[0]["parts"][0]["content"] == "d" * 16_384 + "…[truncated 7616 chars]"
    assert parsed[1]["parts"][0]["content"] == "What does it say?"


# --------------------------------------------------------------------------- usage


@PROPERTY
@given(usage_or_junk, st.sampled_from(["dict", "namespace"]))
def test_read_usage_never_invents_counts(usage: Any, shape: str) -> None:
    read = read_usage(_namespace(usage) if shape == "namespace" else usage)
    assert read == expected_usage(usage)
    if not counts_in(usage):
        assert read == Usage() and read.is_empty()


def test_read_usage_examples() -> None:
    assert read_usage(None) == Usage()
    assert read_usage({}) == Usage()
    assert read_usage({"prompt_tokens": True, "completion_tokens": -1, "total_tokens": 2.5}) == Usage()
    assert read_usage({"prompt_tokens": 12.0, "total_tokens": float("inf")}) == Usage(input_tokens=12)
    assert read_usage({"prompt_tokens": "12"}) == Usage()
    assert read_usage({"input_tokens": 0}).input_tokens == 0  # a real zero stays zero
    both = read_usage({"input_tokens": 3, "prompt_tokens": 9, "completion_tokens": 4})
    assert (both.input_tokens, both.output_tokens) == (3, 4)
    assert read_usage(openai.NOT_GIVEN) == Usage() and read_usage(Hostile()) == Usage()


# --------------------------------------------------------------------------- chat completions


@PROPERTY
@given(shaped(chat_bodies, ChatCompletion), st.booleans())
def test_read_chat_completion(pair: tuple[Any, Any], capture: bool) -> None:
    body, response = pair
    record = new_record()
    read_chat_completion(response, record, capture)
    check_record(record, body)
    if "usage" not in body or body["usage"] is None:
        assert record.usage == Usage()  # absent in, absent out
    elif isinstance(body["usage"], dict):
        assert record.usage == expected_usage(body["usage"])
    choices = body.get("choices")
    if isinstance(choices, list) and all(isinstance(c, dict) for c in choices):
        reasons = tuple(c["finish_reason"] for c in choices if isinstance(c.get("finish_reason"), str))
        assert record.finish_reasons == (tuple(r for r in reasons if r) or None)
    if capture and record.output_messages is not None:
        json.dumps(record.output_messages, default=str)
    if not capture:
        assert record.output_messages is None


def test_a_count_the_sdk_coerced_reads_as_the_object_holds_it() -> None:
    """The example hypothesis found on a CI run: ``completion_tokens=True`` in an unvalidated
    ChatCompletion's usage; the SDK's construct() builds CompletionUsage with 1, the reader
    reports 1 (what the object says), and the expectation is read from the object too."""
    body = {"usage": {"prompt_tokens": 3, "completion_tokens": True, "total_tokens": 4}}
    constructed = ChatCompletion.model_construct(**body)
    record = new_record()
    read_chat_completion(constructed, record, False)
    assert record.usage == expected_usage(_as_plain(constructed)["usage"])
    assert (
        record.usage.input_tokens == 3
        and record.usage.output_tokens == _as_plain(constructed)["usage"]["completion_tokens"]
    )


@PROPERTY
@given(shaped(chat_bodies, None), st.booleans())
def test_read_legacy_and_generic(pair: tuple[Any, Any], capture: bool) -> None:
    body, response = pair
    for operation, reader in (("text_completion", read_chat_completion), ("x.y", read_generic)):
        record = new_record(operation, None)
        reader(response, record, capture)
        check_record(record, body)


@PROPERTY
@given(
    st.fixed_dictionaries({}, optional={"model": text_or_junk, "usage": usage_or_junk, "data": junk}),
    st.booleans(),
)
def test_read_embeddings(body: dict[str, Any], namespace: bool) -> None:
    record = new_record("embeddings", None)
    read_embeddings(_namespace(body) if namespace else body, record)
    check_record(record, body)
    assert record.usage.output_tokens is None  # an embedding has no output tokens
    assert record.finish_reasons is None
    if isinstance(body.get("usage"), dict):
        assert record.usage.input_tokens == expected_usage(body["usage"]).input_tokens


# chunks: mostly plausible chat chunks, some junk, in any order, with or without a usage chunk
chat_chunk = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            **envelope,
            "choices": st.one_of(st.lists(chat_choice, max_size=3), junk),
            "usage": st.one_of(st.none(), usage_or_junk),
        },
    ),
    junk,
)
chat_chunks = st.lists(chat_chunk, max_size=12)


@PROPERTY
@given(chat_chunks, st.booleans(), st.booleans())
def test_chat_stream_accumulator(chunks: list[Any], capture: bool, as_models: bool) -> None:
    accumulator = ChatStreamAccumulator(capture)
    fed = [
        ChatCompletionChunk.model_construct(**c) if as_models and isinstance(c, dict) else c for c in chunks
    ]
    for chunk in fed:
        accumulator.add(chunk)
    record = new_record()
    record.stream = True
    accumulator.finish(record)
    # construct() may coerce a nested value (cached_tokens=False becomes 0): the reader reports what
    # the objects hold, so the expectations are read back from them, as in ``shaped``
    seen = [_as_plain(chunk) for chunk in fed]
    check_record(record, seen)
    usages = [c["usage"] for c in seen if isinstance(c, dict) and c.get("usage") is not None]
    if not usages:
        assert record.usage == Usage()  # no usage chunk: no counts, never zeros
    else:
        assert record.usage == expected_usage(usages[-1])  # the last usage chunk wins
    assert accumulator.finished == bool(record.finish_reasons)
    if capture and record.output_messages is not None:
        json.dumps(record.output_messages, default=str)
    if not capture:
        assert record.output_messages is None


def test_a_stream_count_the_sdk_coerced_reads_as_the_object_holds_it() -> None:
    """The example a longer hypothesis run found (3,000 examples): ``cached_tokens=False`` in an
    unvalidated chunk's usage. construct() builds PromptTokensDetails with 0 there (openai 1.x, 2.x
    and 3.x alike); the record reports what the object holds, as for a full response above."""
    chunk = ChatCompletionChunk.model_construct(
        id="c1", choices=[], usage={"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": False}}
    )
    accumulator = ChatStreamAccumulator(False)
    accumulator.add(chunk)
    record = new_record()
    record.stream = True
    accumulator.finish(record)
    held = _as_plain(chunk)["usage"]["prompt_tokens_details"]["cached_tokens"]  # 0 on these SDKs
    cached = held if type(held) is int else None  # a count only if the object holds one
    assert record.usage == expected_usage(_as_plain(chunk)["usage"])
    assert (record.usage.input_tokens, record.usage.cache_read_tokens) == (1, cached)


def test_chat_stream_accumulator_examples() -> None:
    accumulator = ChatStreamAccumulator(capture_content=True)
    # usage first, finish reasons of two choices out of order, a duplicate finish, an unknown chunk
    for chunk in (
        {"id": "c1", "model": "m", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
        {"choices": [{"index": 1, "delta": {"content": "b"}, "finish_reason": "length"}]},
        {"choices": [{"index": 0, "delta": {"content": "a"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"object": "something.new", "choices": None},
        None,
    ):
        accumulator.add(chunk)
    record = new_record()
    accumulator.finish(record)
    assert record.finish_reasons == ("stop", "length")
    assert (record.usage.input_tokens, record.usage.output_tokens, record.usage.total_tokens) == (5, 2, None)
    assert record.response_id == "c1" and record.response_model == "m"
    assert [m["parts"] for m in record.output_messages or []] == [
        [{"type": "text", "content": "a"}],
        [{"type": "text", "content": "b"}],
    ]


def sdk_chunk(body: dict[str, Any]) -> Any:
    """A chunk as the SDK builds a stream's (``construct_type``: nested models, nothing validated)."""
    return construct_type(type_=ChatCompletionChunk, value=body)


# chunks the SDK itself builds, mixed with the junk above
CHUNK_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
sdk_chat_chunk = st.builds(
    lambda index, reason, usage, n: sdk_chunk(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": index + i, "delta": {"content": "x"}, "finish_reason": reason if i == 0 else None}
                for i in range(n)
            ],
            "usage": usage,
        }
    ),
    st.integers(0, 2),
    st.sampled_from([None, None, None, "", "stop", "length", "tool_calls", "content_filter"]),
    st.one_of(st.none(), st.none(), st.fixed_dictionaries({k: st.integers(0, 9) for k in CHUNK_USAGE_KEYS})),
    st.integers(0, 2),
)


class _StreamCall:
    """What ``StreamTracker`` reads of a call: the chat endpoint's accumulator, a record, end()."""

    def __init__(self, capture: bool) -> None:
        self.site = SimpleNamespace(endpoint=SimpleNamespace(new_accumulator=ChatStreamAccumulator))
        self.capture_content = capture
        self.record = new_record()
        self.observed = None
        self.start_perf = 0.0
        self.ended = False

    def end(self, at: float | None = None) -> None:
        self.ended = True


def _folded(record: CallRecord, accumulator: ChatStreamAccumulator) -> tuple[Any, ...]:
    return (
        record.finish_reasons,
        record.usage,
        record.response_id,
        record.response_model,
        record.system_fingerprint,
        record.service_tier,
        record.output_messages,
        accumulator.finished,
        accumulator.final(),
    )


@PROPERTY
@given(st.lists(st.one_of(sdk_chat_chunk, chat_chunk), max_size=12))
def test_the_stream_skims_plain_chat_chunks_exactly(chunks: list[Any]) -> None:
    """With content capture off, the stream code skips ``add`` for plain chunks (no usage, no
    finish reason): what it folds is what adding every chunk folds, and every chunk is handed on."""
    from tracewrap.interception.streams import StreamTracker, _traced_iterator

    every = ChatStreamAccumulator(capture_content=False)
    for chunk in chunks:
        every.add(chunk)
    expected = new_record()
    every.finish(expected)

    call = _StreamCall(capture=False)
    tracker = StreamTracker(call)  # type: ignore[arg-type]
    assert tracker.skimmer() is tracker.accumulator
    passed = list(_traced_iterator(iter(chunks), tracker))
    assert len(passed) == len(chunks) and all(a is b for a, b in zip(passed, chunks, strict=True))
    assert call.ended and tracker.count == len(chunks)
    assert tracker.accumulator is not None
    assert _folded(call.record, tracker.accumulator) == _folded(expected, every)


def test_plain_chat_chunks_are_skimmed_in_async_streams_too_and_never_with_content_on() -> None:
    import asyncio

    from tracewrap.interception.streams import StreamTracker, _traced_async_iterator

    def chunk(reason: str | None, usage: dict[str, int] | None = None, index: int = 0) -> Any:
        return sdk_chunk(
            {
                "id": "c9",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m9",
                "choices": [{"index": index, "delta": {"content": "x"}, "finish_reason": reason}],
                "usage": usage,
            }
        )

    # two choices, the second finishing mid-stream; a compatible server's "" reasons; usage last
    chunks = [chunk(None), chunk("length", index=1), chunk(""), chunk(None), chunk("stop")]
    chunks.append(chunk(None, {"prompt_tokens": 4, "completion_tokens": 7, "total_tokens": 11}))

    async def source() -> Any:
        for c in chunks:
            yield c

    async def drain(tracker: StreamTracker) -> list[Any]:
        return [c async for c in _traced_async_iterator(source(), tracker)]

    for capture in (False, True):
        call = _StreamCall(capture)
        tracker = StreamTracker(call)  # type: ignore[arg-type]
        assert tracker.skimmer() is tracker.accumulator
        assert asyncio.run(drain(tracker)) == chunks
        assert tracker.accumulator.skips_plain_chunks is (not capture)
        record = call.record
        assert record.finish_reasons == ("stop", "length")
        assert (record.usage.input_tokens, record.usage.output_tokens) == (4, 7)
        assert (record.response_id, record.response_model, record.chunk_count) == ("c9", "m9", 6)
        assert record.stream_outcome == "completed"
        if capture:  # every chunk was read: the text of both choices is there
            assert [m["parts"] for m in record.output_messages or []] == [
                [{"type": "text", "content": "xxxxx"}],
                [{"type": "text", "content": "x"}],
            ]


@PROPERTY
@given(st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=3), st.just(object())))
def test_chat_stream_accumulator_scalar_choices(choices: Any) -> None:
    """A chunk whose ``choices`` is a truthy scalar (a broken compatible server) is skipped, not fatal."""
    accumulator = ChatStreamAccumulator(capture_content=True)
    accumulator.add({"id": "c", "choices": choices})
    accumulator.add({"choices": [{"index": 0, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3}})
    record = new_record()
    accumulator.finish(record)
    assert record.finish_reasons == ("stop",) and record.usage.input_tokens == 3


# --------------------------------------------------------------------------- responses


def expected_finish(status: Any, reason: Any, output: Any) -> str | None:
    if status == "completed":
        last = output[-1] if isinstance(output, list) and output else None
        kind = last.get("type") if isinstance(last, dict) else None
        hosted = ("web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call")
        hosted += ("mcp_call", "tool_search_call")  # calls OpenAI ran itself: nothing left for the app
        ends_with_call = isinstance(kind, str) and (
            (kind.endswith("_call") and not kind.endswith("_output") and kind not in hosted)
            or kind == "mcp_approval_request"
        )
        return "tool_calls" if ends_with_call else "stop"
    if status == "incomplete":
        if not isinstance(reason, str) or not reason:
            return "incomplete"
        return {"max_output_tokens": "length"}.get(reason, reason)
    if status == "failed":
        return "error"
    if status == "cancelled":
        return "cancelled"
    return None


@PROPERTY
@given(shaped(response_bodies, Response), st.booleans())
def test_read_response(pair: tuple[Any, Any], capture: bool) -> None:
    body, response = pair
    record = new_record("chat", "responses")
    read_response(response, record, capture)
    check_record(record, body)
    status = body.get("status")
    details = body.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    expected = expected_finish(status if isinstance(status, str) else None, reason, body.get("output"))
    if isinstance(status, str) or "status" not in body:
        assert record.finish_reasons == ((expected,) if expected else None)
        assert record.status == (status or None)
        assert record.failed == (status == "failed")
    if "usage" not in body or body["usage"] is None:
        assert record.usage == Usage()
    elif isinstance(body["usage"], dict):
        assert record.usage == expected_usage(body["usage"])
    if not capture:
        assert record.output_messages is None


@PROPERTY
@given(  # callers pass as_str() values: a str is never empty
    st.one_of(st.none(), st.sampled_from(STATUSES), st.text(min_size=1, max_size=12)),
    st.one_of(
        st.none(), st.sampled_from(["max_output_tokens", "content_filter"]), st.text(min_size=1, max_size=12)
    ),
    st.one_of(st.lists(output_item, max_size=4)),
)
def test_finish_reason_for(status: str | None, reason: str | None, output: list[Any]) -> None:
    got = finish_reason_for(status, reason, output)
    assert got == expected_finish(status, reason, output)
    assert got is None or (isinstance(got, str) and got)


@PROPERTY
@given(st.lists(response_events, max_size=10), st.booleans(), st.booleans())
def test_responses_stream_accumulator(events: list[Any], capture: bool, as_models: bool) -> None:
    accumulator = ResponsesStreamAccumulator(capture)
    if as_models:
        events = [
            {**e, "response": Response.model_construct(**e["response"])}
            if isinstance(e, dict) and isinstance(e.get("response"), dict)
            else e
            for e in events
        ]
    for event in events:
        accumulator.add(event)
    record = new_record("chat", "responses")
    record.stream = True
    accumulator.finish(record)
    # what the reader must report is what the objects hold (construct() may coerce: see above)
    events = [
        {**e, "response": _as_plain(e["response"])} if isinstance(e, dict) and "response" in e else e
        for e in events
    ]
    check_record(record, events)
    kinds = [e.get("type") for e in events if isinstance(e, dict)]
    terminal = [
        e
        for e in events
        if isinstance(e, dict) and isinstance(e.get("type"), str) and e["type"] in TERMINAL_EVENTS
    ]
    assert accumulator.finished == (bool(terminal) or "error" in kinds)
    if terminal:
        # the last terminal event's response is the final word, whatever came before or after it
        final = terminal[-1].get("response")
        expected = Usage()
        if isinstance(final, dict) and isinstance(final.get("usage"), dict):
            expected = expected_usage(final["usage"])
        assert record.usage == expected
    if not any(isinstance(e, dict) and isinstance(e.get("response"), dict) for e in events):
        assert record.usage == Usage()


def test_responses_stream_accumulator_examples() -> None:
    done = {
        "id": "r1",
        "model": "m",
        "status": "completed",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "hi"}]}],
        "usage": {"input_tokens": 4, "output_tokens": 1, "total_tokens": 5},
    }
    accumulator = ResponsesStreamAccumulator(capture_content=True)
    for event in (
        {"type": "response.output_text.delta", "delta": "h"},  # before created: out of order
        {"type": "response.completed", "response": done},
        {"type": "response.in_progress", "response": {"status": "in_progress", "usage": None}},  # late
        {"type": "response.brand_new_event", "response": {"status": "failed"}},  # unknown type
        {"type": None},
        {"no_type": True},
    ):
        accumulator.add(event)
    record = new_record("chat", "responses")
    accumulator.finish(record)
    assert record.status == "completed" and record.finish_reasons == ("stop",)
    assert (record.usage.input_tokens, record.usage.output_tokens) == (4, 1)
    assert record.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hi"}], "finish_reason": "stop"}
    ]
    assert not record.failed

    # a stream error event with no terminal event: an error, no token counts
    errored = ResponsesStreamAccumulator()
    errored.add({"type": "response.created", "response": {"status": "in_progress"}})
    errored.add({"type": "error", "code": "server_error", "message": "boom"})
    failed = new_record("chat", "responses")
    errored.finish(failed)
    assert failed.error_type == "server_error" and failed.finish_reasons == ("error",)
    assert failed.usage == Usage()


@PROPERTY
@given(st.one_of(st.lists(junk, max_size=3), st.dictionaries(st.text(max_size=3), junk, max_size=2)))
def test_responses_stream_accumulator_unhashable_type(kind: Any) -> None:
    """An event whose ``type`` is a list or dict (a broken proxy) is ignored like any unknown event."""
    accumulator = ResponsesStreamAccumulator()
    accumulator.add({"type": kind, "response": {"status": "failed"}})
    accumulator.add(
        {"type": "response.completed", "response": {"status": "completed", "usage": {"input_tokens": 2}}}
    )
    record = new_record("chat", "responses")
    accumulator.finish(record)
    assert record.status == "completed" and record.usage.input_tokens == 2


# --------------------------------------------------------------------------- requests

param = st.one_of(
    st.none(),
    st.sampled_from([openai.NOT_GIVEN, openai.omit, openai.Omit()]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**63, -(2**63) - 1, 10**400]),  # beyond int64; beyond float
    st.text(max_size=10),
    st.just(HUGE),
    junk,
)
request_kwargs = st.fixed_dictionaries(
    {},
    optional={
        name: param
        for name in (
            "model",
            "temperature",
            "top_p",
            "frequency_penalty",
            "presence_penalty",
            "max_tokens",
            "max_completion_tokens",
            "max_output_tokens",
            "seed",
            "stop",
            "n",
            "service_tier",
            "stream",
            "response_format",
            "conversation",
            "background",
            "text",
            "text_format",
            "encoding_format",
            "dimensions",
            "messages",
            "input",
            "instructions",
            "prompt",
            "extra_headers",
            "extra_body",
        )
    },
)
REQUEST_READERS = [
    ("chat", "chat_completions", requests.read_chat_request),
    ("chat", "responses", requests.read_responses_request),
    ("text_completion", None, requests.read_completion_request),
    ("embeddings", None, requests.read_embeddings_request),
    ("fetch_response", "responses", requests.read_retrieve_request),
    ("x.y", None, requests.read_generic_request),
]


@PROPERTY
@given(request_kwargs)
def test_request_readers(kwargs: dict[str, Any]) -> None:
    for operation, api_type, reader in REQUEST_READERS:
        record = new_record(operation, api_type)
        reader(kwargs, record)
        attrs = start_attributes(record)
        assert_valid_attributes(attrs)
        assert_valid_attributes(metric_attributes(record))
        assert record.usage == Usage()  # a request never carries counts
        assert isinstance(record.stream, bool)
        assert record.request_model is None or (
            isinstance(record.request_model, str) and record.request_model
        )
        # sentinels and None read as absent; extra_headers / extra_body are never read
        for value in attrs.values():
            assert not isinstance(value, (openai.NotGiven, openai.Omit))
        assert not any("header" in key or "extra" in key for key in attrs)


def test_request_readers_sentinels_read_as_absent() -> None:
    kwargs: dict[str, Any] = {
        name: openai.NOT_GIVEN
        for name in ("temperature", "top_p", "max_tokens", "seed", "stop", "n", "stream", "service_tier")
    }
    kwargs["model"] = "gpt-4o-mini"
    kwargs["top_p"] = openai.omit
    record = new_record()
    requests.read_chat_request(kwargs, record)
    assert record.request_attributes == {}
    assert record.request_model == "gpt-4o-mini" and record.stream is False


# --------------------------------------------------------------------------- content readers


@PROPERTY
@given(request_kwargs)
def test_content_readers(kwargs: dict[str, Any]) -> None:
    for read in (
        content.chat_input_messages,
        content.responses_input_messages,
        content.responses_instructions,
    ):
        messages = read(kwargs)
        assert messages is None or isinstance(messages, list)
        record = new_record()
        record.input_messages = messages
        attrs = content_attributes(record, 64, None)
        for value in attrs.values():
            assert isinstance(value, str)
            check_bounded_content(json.loads(value), 64)


@PROPERTY
@given(
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "system", "assistant"])},
            optional={"content": st.one_of(st.text(max_size=20), st.lists(junk, max_size=3), junk)},
        ),
        max_size=4,
    )
)
def test_content_readers_do_not_consume_an_iterator(messages: list[dict[str, Any]]) -> None:
    """``messages`` may be any iterable (the SDK takes ``Iterable``): reading it must not use it up."""
    source = iter(messages)
    read = content.chat_input_messages({"messages": source})
    assert read is None or isinstance(read, list)
    assert list(source) == messages  # the SDK still sends every message


def test_content_readers_sentinels() -> None:
    for sentinel in (openai.NOT_GIVEN, openai.omit):
        assert content.chat_input_messages({"messages": sentinel}) is None
        assert content.responses_input_messages({"input": sentinel}) is None
        assert content.responses_instructions({"instructions": sentinel}) is None


# --------------------------------------------------------------------------- out-of-range numbers


def test_token_counts_beyond_int64_are_not_recorded() -> None:
    """OTLP encodes ints as signed 64-bit: a bigger count is dropped by the exporter with an error
    logged per span, and a Sum data point overflows; such a count must read as absent."""
    for usage in (
        {"prompt_tokens": 2**63, "completion_tokens": 2**64, "total_tokens": 2**70},
        {"input_tokens": 2**63, "input_tokens_details": {"cached_tokens": 2**63}},
    ):
        record = new_record()
        read_chat_completion({"usage": usage, "choices": []}, record)
        assert_valid_attributes(end_attributes(record))
        assert record.usage.input_tokens is None


def test_request_ints_beyond_int64_are_not_recorded() -> None:
    record = new_record()
    requests.read_chat_request({"model": "m", "seed": 2**64, "max_tokens": 2**63, "n": 2**70}, record)
    assert_valid_attributes(start_attributes(record))
    embeddings = new_record("embeddings", None)
    requests.read_embeddings_request({"model": "e", "dimensions": 2**63}, embeddings)
    assert_valid_attributes(start_attributes(embeddings))
    assert record.request_attributes == {} and embeddings.request_attributes == {}  # absent, not clamped
    # a seed may be negative: anything that fits a signed 64-bit int is recorded as given
    for seed in (-(2**63), -1, 2**63 - 1):
        seeded = new_record()
        requests.read_chat_request({"model": "m", "seed": seed}, seeded)
        assert seeded.request_attributes == {"gen_ai.request.seed": seed}


def test_request_float_params_too_large_for_a_float_read_as_absent() -> None:
    """``as_float(10**400)`` raises OverflowError; values.py promises its readers never raise."""
    record = new_record()
    requests.read_chat_request({"model": "m", "temperature": 10**400, "top_p": 0.5}, record)
    assert record.request_attributes == {"gen_ai.request.top_p": 0.5}


def test_chat_stream_empty_finish_reason_is_not_a_finish() -> None:
    """Some compatible servers send ``"finish_reason": ""`` on every chunk: that is not a finish, so a
    stream cut after such chunks is incomplete, as the non-streamed reader (``as_str``) already treats it."""
    accumulator = ChatStreamAccumulator()
    for text in ("a", "b"):
        accumulator.add({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": ""}]})
    record = new_record()
    accumulator.finish(record)
    assert not accumulator.finished
    assert record.finish_reasons is None


# names a reader asks for: declared fields of the models below, and fields newer than the SDK that
# pydantic keeps as extras (never the name of a method or property, see fields_of)
_FIELD_NAMES = ["id", "model", "status", "output", "usage", "choices", "prompt_tokens", "input_tokens"]
_EXTRA_NAMES = ["store", "billing", "x_future_field"]


@PROPERTY
@given(
    st.dictionaries(st.sampled_from(_FIELD_NAMES + _EXTRA_NAMES), junk, max_size=8),
    st.sampled_from([Response, ChatCompletion, openai.types.CompletionUsage]),
)
def test_fields_of_reads_what_field_reads(body: dict[str, Any], model: type) -> None:
    """The fast path (a model's __dict__, merged with its extras when it has any) is field()."""
    obj = model.model_construct(**body)
    get = fields_of(obj).get
    for name in _FIELD_NAMES + _EXTRA_NAMES:
        assert get(name) is field(obj, name), name


def test_fields_of_a_response_with_extras_is_one_dict() -> None:
    """An SDK model with fields the SDK does not know yet still reads as a dict, not name by name."""
    response = Response.model_construct(id="resp_1", status="completed", store=True)
    assert response.__pydantic_extra__ == {"store": True}
    fields = fields_of(response)
    assert type(fields) is dict
    assert (fields["id"], fields["status"], fields["store"]) == ("resp_1", "completed", True)

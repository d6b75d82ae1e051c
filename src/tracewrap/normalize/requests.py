"""What the user asked for: request parameters that the call really passed, as span attributes.

Only parameters present with a value of the right type are recorded; ``NotGiven`` / ``Omit`` /
``None`` read as absent. Headers, ``extra_headers``, ``extra_body`` and API keys are never read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.semconv._incubating.attributes import openai_attributes as OpenAIAttr

from tracewrap.normalize.values import (
    as_bool,
    as_float,
    as_int,
    as_int64,
    as_str,
    as_str_tuple,
    field,
)
from tracewrap.record import CallRecord

# tracewrap's own attribute for Responses background mode (no convention names it yet)
OPENAI_REQUEST_BACKGROUND = "openai.request.background"


def _choice_count(value: Any) -> int | None:
    """``n``: recorded only when it asks for more than the default one choice."""
    count = as_int(value)
    return count if count != 1 else None


# parameter -> (attribute, converter); a converter returns None for a value that cannot be recorded
_PARAMS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "temperature": (GenAI.GEN_AI_REQUEST_TEMPERATURE, as_float),
    "top_p": (GenAI.GEN_AI_REQUEST_TOP_P, as_float),
    "frequency_penalty": (GenAI.GEN_AI_REQUEST_FREQUENCY_PENALTY, as_float),
    "presence_penalty": (GenAI.GEN_AI_REQUEST_PRESENCE_PENALTY, as_float),
    "seed": (GenAI.GEN_AI_REQUEST_SEED, as_int64),
    "stop": (GenAI.GEN_AI_REQUEST_STOP_SEQUENCES, as_str_tuple),
    "n": (GenAI.GEN_AI_REQUEST_CHOICE_COUNT, _choice_count),
    "service_tier": (OpenAIAttr.OPENAI_REQUEST_SERVICE_TIER, as_str),
}
_PARAM_NAMES = frozenset(_PARAMS)


def _read_common(kwargs: Mapping[str, Any], record: CallRecord, max_tokens_keys: tuple[str, ...]) -> None:
    # a call passes a few of these parameters: the conversion runs only for those it passed
    get = kwargs.get
    attrs = record.request_attributes
    model = get("model")
    if isinstance(model, str) and model:
        record.request_model = model
    for name in _PARAM_NAMES.intersection(kwargs):  # only those passed: one C-level step
        value = get(name)
        if value is not None:
            key, convert = _PARAMS[name]
            value = convert(value)
            if value is not None:
                attrs[key] = value
    for name in max_tokens_keys:  # the first one passed with a valid value wins
        value = as_int(get(name))
        if value is not None:
            attrs[GenAI.GEN_AI_REQUEST_MAX_TOKENS] = value
            break
    stream = get("stream")
    if stream is True or stream is False:
        record.stream = stream
        attrs[GenAI.GEN_AI_REQUEST_STREAM] = stream


def _output_type(response_format: Any) -> str | None:
    """``gen_ai.output.type`` from a response format dict, or ``json`` for a pydantic class (parse)."""
    if isinstance(response_format, type):
        return "json"
    kind = as_str(field(response_format, "type"))
    if kind in ("json_schema", "json_object"):
        return "json"
    return "text" if kind == "text" else None


_CHAT_MAX_TOKENS = ("max_completion_tokens", "max_tokens")
_RESPONSES_MAX_TOKENS = ("max_output_tokens",)
_COMPLETION_MAX_TOKENS = ("max_tokens",)


def _read_chat_request(kwargs: Mapping[str, Any], record: CallRecord) -> None:
    _read_common(kwargs, record, _CHAT_MAX_TOKENS)
    response_format = kwargs.get("response_format")
    output_type = None if response_format is None else _output_type(response_format)
    if output_type:
        record.request_attributes[GenAI.GEN_AI_OUTPUT_TYPE] = output_type


def _read_responses_request(kwargs: Mapping[str, Any], record: CallRecord) -> None:
    _read_common(kwargs, record, _RESPONSES_MAX_TOKENS)
    attrs = record.request_attributes
    get = kwargs.get
    conversation = get("conversation")  # most calls pass none of these: nothing runs for them
    if conversation is not None:
        conversation_id = as_str(conversation) or as_str(field(conversation, "id"))
        if conversation_id:
            attrs[GenAI.GEN_AI_CONVERSATION_ID] = conversation_id
    background = get("background")
    if background is True or background is False:
        attrs[OPENAI_REQUEST_BACKGROUND] = background
    if isinstance(get("text_format"), type):
        attrs[GenAI.GEN_AI_OUTPUT_TYPE] = "json"
    else:
        text = get("text")
        output_type = None if text is None else _output_type(field(text, "format"))
        if output_type:
            attrs[GenAI.GEN_AI_OUTPUT_TYPE] = output_type


def _read_completion_request(kwargs: Mapping[str, Any], record: CallRecord) -> None:
    _read_common(kwargs, record, _COMPLETION_MAX_TOKENS)


# A call site passes the same parameter values call after call (its model, its temperature...), and
# between two calls the SDK's own work evicts the reading's code and data from the CPU caches: read
# cold, a chat request costs ~11 µs, warm ~1.7 (benchmarks/README.md, by ablation). So what a reader
# made of a set of plain values is remembered, and a repeat costs two tuples and a lookup.
REMEMBERED_PER_READER = 256  # distinct parameter sets; past it a reader's table starts over
# values whose equality (with their type) decides what they read as; anything else is read each time.
# openai's NotGiven / Omit sentinels join on first sight (they read as absent whatever the instance)
_plain_types: set[type] = {str, int, float, bool, type(None)}


def _plain(types: tuple[type, ...]) -> bool:
    if _plain_types.issuperset(types):
        return True
    for kind in types:
        if kind not in _plain_types:
            if kind.__name__ not in ("NotGiven", "Omit") or not kind.__module__.startswith("openai"):
                return False
            _plain_types.add(kind)
    return True


def remembered(
    read: Callable[[Mapping[str, Any], CallRecord], None], names: Iterable[str]
) -> Callable[[Mapping[str, Any], CallRecord], None]:
    """``read``, remembering its result per set of values of ``names`` (every parameter ``read``
    reads: a parameter left out would be read as its first value). The record must be fresh
    (``CallSite.new_record``): ``read`` may only set ``request_model``, ``stream`` and
    ``request_attributes`` (tests/core/test_request_memo.py checks every parameter of the SDK's
    methods against the plain reader)."""
    names = tuple(names)
    table: dict[tuple[tuple[Any, ...], tuple[type, ...]], tuple[Any, bool, tuple[Any, ...]]] = {}

    def read_remembered(kwargs: Mapping[str, Any], record: CallRecord) -> None:
        values = tuple(map(kwargs.get, names))
        types = tuple(map(type, values))  # 1 and 1.0 and True are equal; as parameters they are not
        if not _plain(types):
            read(kwargs, record)
            return
        key = (values, types)
        known = table.get(key)
        if known is None:
            read(kwargs, record)
            if len(table) >= REMEMBERED_PER_READER:
                table.clear()
            table[key] = (record.request_model, record.stream, tuple(record.request_attributes.items()))
            return
        record.request_model, record.stream, attributes = known
        record.request_attributes.update(attributes)

    read_remembered.table = table  # type: ignore[attr-defined]  # for tests: what it holds
    return read_remembered


_COMMON_NAMES = ("model", "stream", *_PARAMS)
read_chat_request = remembered(_read_chat_request, (*_COMMON_NAMES, *_CHAT_MAX_TOKENS, "response_format"))
read_responses_request = remembered(
    _read_responses_request,
    (*_COMMON_NAMES, *_RESPONSES_MAX_TOKENS, "conversation", "background", "text_format", "text"),
)
read_completion_request = remembered(_read_completion_request, (*_COMMON_NAMES, *_COMPLETION_MAX_TOKENS))


def read_embeddings_request(kwargs: Mapping[str, Any], record: CallRecord) -> None:
    record.request_model = as_str(kwargs.get("model"))
    encoding = as_str(kwargs.get("encoding_format"))
    if encoding:
        record.request_attributes[GenAI.GEN_AI_REQUEST_ENCODING_FORMATS] = (encoding,)
    dimensions = as_int(kwargs.get("dimensions"))
    if dimensions is not None:
        record.request_attributes[GenAI.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions


def read_retrieve_request(kwargs: Mapping[str, Any], record: CallRecord) -> None:
    # responses.retrieve(response_id, stream=...): no model is known until the answer arrives;
    # the id is, so a fetch that fails (404) still names the response it asked for
    response_id = as_str(kwargs.get("response_id"))
    if response_id:
        record.response_id = response_id
    stream = as_bool(kwargs.get("stream"))
    record.stream = bool(stream)
    if stream is not None:
        record.request_attributes[GenAI.GEN_AI_REQUEST_STREAM] = stream


def read_retrieve_args(args: tuple[Any, ...], record: CallRecord) -> None:
    response_id = as_str(args[0]) if args else None
    if response_id:
        record.response_id = response_id


def read_generic_request(kwargs: Mapping[str, Any], record: CallRecord) -> None:
    record.request_model = as_str(kwargs.get("model"))
    record.stream = as_bool(kwargs.get("stream")) is True


def media_request_reader(output_type: str | None) -> Callable[[Mapping[str, Any], CallRecord], None]:
    """Images and audio: the model, ``n``, ``stream``, and the output type the endpoint produces."""

    def read(kwargs: Mapping[str, Any], record: CallRecord) -> None:
        get = kwargs.get
        record.request_model = as_str(get("model"))
        attrs = record.request_attributes
        if output_type is not None:
            attrs[GenAI.GEN_AI_OUTPUT_TYPE] = output_type
        count = _choice_count(get("n"))
        if count is not None:
            attrs[GenAI.GEN_AI_REQUEST_CHOICE_COUNT] = count
        stream = get("stream")
        if stream is True or stream is False:
            record.stream = stream
            attrs[GenAI.GEN_AI_REQUEST_STREAM] = stream

    return read


def read_model_request(kwargs: Mapping[str, Any], record: CallRecord) -> None:
    """Moderations and token counts: the model, when the call names one."""
    record.request_model = as_str(kwargs.get("model"))

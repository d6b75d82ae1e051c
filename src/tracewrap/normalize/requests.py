"""What the user asked for: request parameters that the call really passed, as span attributes.

Only parameters present with a value of the right type are recorded; ``NotGiven`` / ``Omit`` /
``None`` read as absent. Headers, ``extra_headers``, ``extra_body`` and API keys are never read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


def _read_stream_options(options: Any, record: CallRecord) -> None:
    if field(options, "include_usage") is True:
        record.usage_requested = True


def read_chat_request(kwargs: Mapping[str, Any], record: CallRecord) -> None:
    _read_common(kwargs, record, ("max_completion_tokens", "max_tokens"))
    options = kwargs.get("stream_options")
    if options is not None:
        _read_stream_options(options, record)
    response_format = kwargs.get("response_format")
    output_type = None if response_format is None else _output_type(response_format)
    if output_type:
        record.request_attributes[GenAI.GEN_AI_OUTPUT_TYPE] = output_type


def read_responses_request(kwargs: Mapping[str, Any], record: CallRecord) -> None:
    _read_common(kwargs, record, ("max_output_tokens",))
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


def read_completion_request(kwargs: Mapping[str, Any], record: CallRecord) -> None:
    _read_common(kwargs, record, ("max_tokens",))
    options = kwargs.get("stream_options")
    if options is not None:
        _read_stream_options(options, record)


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

"""A :class:`~tracewrap.record.CallRecord` as span attributes and metric attributes (pure)."""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.semconv._incubating.attributes import openai_attributes as OpenAIAttr
from opentelemetry.semconv.attributes import error_attributes, server_attributes

from tracewrap.record import AttributeValue, CallRecord

# tracewrap's own span attributes (documented in the README)
OPENAI_RESPONSE_STATUS = "openai.response.status"
STREAM_OUTCOME = "tracewrap.stream.outcome"
STREAM_CHUNKS = "tracewrap.stream.chunks"
HTTP_STATUS_CODE = "http.response.status_code"
FINISH_REASON = "tracewrap.finish_reason"
COST_ESTIMATE = "tracewrap.cost.estimate_usd"
CANCELLED = "tracewrap.cancelled"
# modality splits of the usage counts (no convention names them yet): parts of the gen_ai.usage ones
USAGE_AUDIO_INPUT = "tracewrap.usage.audio.input_tokens"
USAGE_AUDIO_CACHE_READ = "tracewrap.usage.audio.cache_read.input_tokens"
USAGE_AUDIO_OUTPUT = "tracewrap.usage.audio.output_tokens"
USAGE_IMAGE_INPUT = "tracewrap.usage.image.input_tokens"
USAGE_IMAGE_OUTPUT = "tracewrap.usage.image.output_tokens"


def span_name(record: CallRecord) -> str:
    return f"{record.operation} {record.request_model}" if record.request_model else record.operation


def shared_attributes(record: CallRecord) -> dict[str, AttributeValue]:
    """What every call through one wrapped method has in common, on its span and its metric points.

    Built once per wrapped method (from a record holding only the method's and client's fields)
    and copied into each call's attributes, instead of being assembled again on every call.
    """
    attrs: dict[str, AttributeValue] = {
        GenAI.GEN_AI_OPERATION_NAME: record.operation,
        GenAI.GEN_AI_PROVIDER_NAME: record.provider,
    }
    if record.api_type:
        attrs[OpenAIAttr.OPENAI_API_TYPE] = record.api_type
    if record.server_address:
        attrs[server_attributes.SERVER_ADDRESS] = record.server_address
    if record.server_port is not None:
        attrs[server_attributes.SERVER_PORT] = record.server_port
    return attrs


def start_attributes(record: CallRecord, shared: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
    """``shared``: :func:`shared_attributes` of the record's method."""
    attrs = shared.copy()
    if record.request_model:
        attrs[GenAI.GEN_AI_REQUEST_MODEL] = record.request_model
    attrs.update(record.request_attributes)
    return attrs


def end_attributes(record: CallRecord) -> dict[str, AttributeValue]:
    attrs: dict[str, AttributeValue] = {}
    if record.response_model:
        attrs[GenAI.GEN_AI_RESPONSE_MODEL] = record.response_model
    if record.response_id:
        attrs[GenAI.GEN_AI_RESPONSE_ID] = record.response_id
    if record.finish_reasons:
        attrs[GenAI.GEN_AI_RESPONSE_FINISH_REASONS] = record.finish_reasons
    if record.status:
        attrs[OPENAI_RESPONSE_STATUS] = record.status
    if record.service_tier:
        attrs[OpenAIAttr.OPENAI_RESPONSE_SERVICE_TIER] = record.service_tier
    if record.system_fingerprint:
        attrs[OpenAIAttr.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = record.system_fingerprint
    usage = record.usage
    if usage.input_tokens is not None:
        attrs[GenAI.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
    if usage.output_tokens is not None:
        attrs[GenAI.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
    if usage.cache_read_tokens is not None:
        attrs[GenAI.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read_tokens
    if usage.cache_write_tokens is not None:
        attrs[GenAI.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cache_write_tokens
    if usage.reasoning_tokens is not None:
        attrs[GenAI.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_tokens
    for key, count in (
        (USAGE_AUDIO_INPUT, usage.input_audio_tokens),
        (USAGE_AUDIO_CACHE_READ, usage.cache_audio_read_tokens),
        (USAGE_AUDIO_OUTPUT, usage.output_audio_tokens),
        (USAGE_IMAGE_INPUT, usage.input_image_tokens),
        (USAGE_IMAGE_OUTPUT, usage.output_image_tokens),
    ):
        if count is not None:
            attrs[key] = count
    if record.error_type:
        attrs[error_attributes.ERROR_TYPE] = record.error_type
    if record.http_status_code is not None:
        attrs[HTTP_STATUS_CODE] = record.http_status_code
    if record.cancelled:
        attrs[CANCELLED] = True
    if record.stream_outcome:
        attrs[STREAM_OUTCOME] = record.stream_outcome
        attrs[STREAM_CHUNKS] = record.chunk_count
    if record.time_to_first_chunk is not None:
        attrs[GenAI.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = record.time_to_first_chunk
    return attrs


def metric_attributes(record: CallRecord, shared: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
    """Low-cardinality attributes only: never ids, never content. ``shared`` as for the span."""
    attrs = shared.copy()
    if record.request_model:
        attrs[GenAI.GEN_AI_REQUEST_MODEL] = record.request_model
    if record.response_model:
        attrs[GenAI.GEN_AI_RESPONSE_MODEL] = record.response_model
    if record.error_type:
        attrs[error_attributes.ERROR_TYPE] = record.error_type
    return attrs

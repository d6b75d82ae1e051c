"""The fields of a LangSmith run for one traced call, as ``langsmith.wrappers.wrap_openai`` shapes them.

Pure functions. Inputs are the call's own keyword arguments; outputs are the response object as
the SDK dumps it (for a stream, the final object built while it passed), with ``usage`` turned
into LangSmith's ``usage_metadata`` (absent counts omitted, never 0). The ``ls_*`` metadata keys
are the ones LangSmith reads for model, provider and cost. tracewrap adds what only it knows (how
the call or stream ended, the HTTP status, the OTel ids) beside them in the metadata.

The redaction hook, when one is given, runs over every text value of the prompt arguments and of
the outputs, except identifiers (roles, types, ids, tool names, model names: :data:`KEPT_AS_IS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tracewrap.logs import warn_once
from tracewrap.record import CallRecord

_PARAM_PREFIXES = ("gen_ai.request.", "openai.request.")

# never recorded: headers, query and body additions can carry credentials; timeout is transport
DROPPED_ARGUMENTS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
# the arguments that carry the prompt: the redaction hook runs over these (and only these) inputs
PROMPT_ARGUMENTS = ("messages", "input", "instructions", "prompt", "suffix")
# keys whose string values are identifiers, not content: the hook never sees them
KEPT_AS_IS = frozenset(
    {
        "role",
        "type",
        "id",
        "call_id",
        "tool_call_id",
        "name",
        "model",
        "object",
        "status",
        "finish_reason",
        "service_tier",
        "system_fingerprint",
        "previous_response_id",
    }
)
# request parameters LangSmith's wrapper lists in ls_invocation_params (no content, no ids)
INVOCATION_KEYS = frozenset(
    {
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning",
        "reasoning_effort",
        "response_format",
        "seed",
        "service_tier",
        "stream_options",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
        "verbosity",
        "web_search_options",
    }
)
_SCHEMA_ARGUMENTS = ("text_format", "response_format")  # may be a pydantic class
_TIERS = ("priority", "flex")  # service tiers LangSmith prices separately

Redactor = Callable[[str], str]


class RedactionFailed(Exception):
    """The user's hook raised or returned a non-string: the content is dropped, not sent as it was."""


def _sentinel_types() -> tuple[type, ...]:
    try:
        from openai._types import NotGiven
    except ImportError:
        return ()
    try:
        from openai._types import Omit
    except ImportError:  # older 1.x has NotGiven only
        return (NotGiven,)
    return (NotGiven, Omit)


_SENTINELS = _sentinel_types()


def _schema(value: Any) -> Any:
    """A pydantic class given as ``text_format`` / ``response_format``: its JSON schema."""
    if isinstance(value, type) and hasattr(value, "model_json_schema"):
        try:
            return value.model_json_schema()
        except Exception:
            return value.__name__
    return value


def _plain(value: Any, redact: Redactor | None, key: str | None = None) -> Any:
    """A fresh JSON-ready copy (later changes to the caller's lists do not reach the run), redacted."""
    if isinstance(value, str):
        if redact is None or key in KEPT_AS_IS:
            return value
        result = redact(value)
        if not isinstance(result, str):
            raise RedactionFailed(type(result).__name__)
        return result
    if isinstance(value, Mapping):
        return {k: _plain(v, redact, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, redact, key) for v in value]
    dump = getattr(value, "model_dump", None)  # an SDK message object passed back in, a parsed model
    if callable(dump) and not isinstance(value, type):
        return _plain(model_dump_json(dump), redact, key)
    if isinstance(value, (bytes, bytearray, memoryview)):  # an upload (images.edit, audio): data,
        return f"<{len(value)} bytes>"  # not a readable input; LangSmith would send it whole, base64
    if hasattr(value, "read"):  # an open file to upload: its name, never its content
        return f"<file {getattr(value, 'name', '')}>".replace(" >", ">")
    if hasattr(value, "__next__"):  # a one-shot iterator: reading it would use it up
        return f"<{type(value).__name__}>"
    return value  # numbers, None, and anything else LangSmith's serializer will handle


def _redacting(redact: Redactor | None, what: Callable[[], Any]) -> tuple[Any, bool]:
    try:
        return what(), True
    except Exception as exc:
        warn_once(
            "redact",
            "tracewrap: the redact hook raised %s; the content of such calls is not recorded",
            type(exc).__name__,
        )
        return None, False


def inputs(kwargs: Mapping[str, Any], hide: bool, redact: Redactor | None) -> dict[str, Any]:
    """The call's keyword arguments as passed, without sentinels, ``extra_*`` and ``timeout``."""
    if hide:
        return {}
    found: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in DROPPED_ARGUMENTS or (_SENTINELS and isinstance(value, _SENTINELS)):
            continue
        if key in PROMPT_ARGUMENTS:
            if not isinstance(value, (str, Mapping, list, tuple)):
                continue  # a one-shot iterator: reading it would use up what the SDK sends
            copied, ok = _redacting(redact, lambda v=value: _plain(v, redact))
            if ok:
                found[key] = copied
        else:
            try:  # an argument that cannot be copied is left out, not the whole run
                found[key] = _plain(_schema(value) if key in _SCHEMA_ARGUMENTS else value, None)
            except Exception:
                continue
    return found


def dump(response: Any, exclude_none: bool) -> dict[str, Any] | None:
    """The response as the SDK dumps it; a dict stays a dict; anything else is not dumped."""
    if response is None:
        return None
    if isinstance(response, Mapping):
        return dict(response)
    model_dump = getattr(response, "model_dump", None)
    if not callable(model_dump):
        return None
    return model_dump_json(model_dump, exclude_none=exclude_none)


def model_dump_json(model_dump: Callable[..., Any], **options: Any) -> Any:
    """``model_dump(mode="json", **options)``, without pydantic's serializer warnings (parsed
    generics) reaching the app. openai's models on pydantic 1 refuse ``warnings`` (a ValueError;
    they have none to give), and a foreign model_dump may take no keywords at all."""
    try:
        return model_dump(mode="json", warnings=False, **options)
    except (TypeError, ValueError):
        pass
    try:
        return model_dump(mode="json", **options)
    except (TypeError, ValueError):
        return model_dump()


def embeddings_output(dumped: dict[str, Any]) -> dict[str, Any]:
    """Vectors are data, not a readable output: each one is kept as its dimension count."""
    data = dumped.get("data")
    if isinstance(data, list):
        dumped["data"] = [
            {
                "index": item.get("index"),
                "object": item.get("object"),
                "dimensions": len(item["embedding"]) if isinstance(item.get("embedding"), list) else None,
            }
            for item in data
            if isinstance(item, Mapping)
        ]
    return dumped


def media_output(dumped: dict[str, Any]) -> dict[str, Any]:
    """A generated image is data, not a readable output: its base64 is kept as its length."""
    data = dumped.get("data")
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
                item["b64_json"] = f"<{len(item['b64_json'])} base64 characters>"
    return dumped


def outputs(
    record: CallRecord, response: Any, hide: bool, redact: Redactor | None, embeddings: bool = False
) -> dict[str, Any]:
    """``response`` dumped (``usage`` replaced by ``usage_metadata``), redacted; ``{}`` when hidden."""
    if hide:
        return {}
    dumped = dump(response, exclude_none=record.api_type == "responses")  # as wrap_openai dumps each
    found: dict[str, Any] = {}
    if dumped is not None:
        dumped.pop("usage", None)
        if embeddings:
            dumped = embeddings_output(dumped)
        elif record.operation == "generate_content":
            dumped = media_output(dumped)
        if redact is not None:
            dumped, ok = _redacting(redact, lambda: _plain(dumped, redact))
            if not ok:
                dumped = {}
        found.update(dumped or {})
    usage = usage_metadata(record)
    if usage is not None:
        found["usage_metadata"] = usage
    return found


def invocation_params(record: CallRecord) -> dict[str, Any]:
    """The request attributes by their plain parameter names (``temperature``, ``max_tokens``...)."""
    params: dict[str, Any] = {}
    for key, value in record.request_attributes.items():
        name = next((key[len(p) :] for p in _PARAM_PREFIXES if key.startswith(p)), key)
        params[name] = list(value) if isinstance(value, tuple) else value
    if record.request_model:
        params["model"] = record.request_model
    params["stream"] = record.stream
    return params


def usage_metadata(record: CallRecord) -> dict[str, Any] | None:
    usage = record.usage
    found: dict[str, Any] = {}
    if usage.input_tokens is not None:
        found["input_tokens"] = usage.input_tokens
    if usage.output_tokens is not None:
        found["output_tokens"] = usage.output_tokens
    total = usage.total_tokens
    if total is None and usage.input_tokens is not None and usage.output_tokens is not None:
        total = usage.input_tokens + usage.output_tokens
    if total is not None:
        found["total_tokens"] = total
    # priority and flex tokens are priced apart: LangSmith reads them under the tier's own keys
    tier = record.service_tier if record.service_tier in _TIERS else None
    prefix = f"{tier}_" if tier else ""
    inputs_detail: dict[str, int] = {}
    outputs_detail: dict[str, int] = {}
    # audio tokens are priced apart too (gpt-4o audio, realtime, transcribe): LangSmith's "audio"
    if usage.input_audio_tokens is not None:
        inputs_detail["audio"] = usage.input_audio_tokens
    if usage.cache_read_tokens is not None:
        inputs_detail[f"{prefix}cache_read"] = usage.cache_read_tokens
    if usage.output_audio_tokens is not None:
        outputs_detail["audio"] = usage.output_audio_tokens
    if usage.reasoning_tokens is not None:
        outputs_detail[f"{prefix}reasoning"] = usage.reasoning_tokens
    if tier and usage.input_tokens is not None:
        inputs_detail[tier] = usage.input_tokens - (usage.cache_read_tokens or 0)
    if tier and usage.output_tokens is not None:
        outputs_detail[tier] = usage.output_tokens - (usage.reasoning_tokens or 0)
    if inputs_detail:
        found["input_token_details"] = inputs_detail
    if outputs_detail:
        found["output_token_details"] = outputs_detail
    return found or None


def ls_provider(provider: str) -> str:
    return "azure" if provider.startswith("azure") else provider


def ls_metadata(record: CallRecord, kwargs: Mapping[str, Any], model_type: str | None) -> dict[str, Any]:
    """The ``ls_*`` keys from the request, known when the call starts (and the request's metadata)."""
    given = {
        k: v for k, v in kwargs.items() if not (_SENTINELS and isinstance(v, _SENTINELS)) and v is not None
    }
    found: dict[str, Any] = {}
    request_metadata = given.get("metadata")
    if isinstance(request_metadata, Mapping):  # the call's own metadata, as wrap_openai shows it
        found.update({str(k): v for k, v in request_metadata.items()})
    found["ls_provider"] = ls_provider(record.provider)
    if model_type is not None:
        found["ls_model_type"] = model_type
    model = given.get("model") or record.request_model
    if model:
        found["ls_model_name"] = model
    if isinstance(given.get("temperature"), (int, float)):
        found["ls_temperature"] = given["temperature"]
    max_tokens = (
        given.get("max_tokens") or given.get("max_completion_tokens") or given.get("max_output_tokens")
    )
    if max_tokens is not None:
        found["ls_max_tokens"] = max_tokens
    stop = given.get("stop")
    if stop:
        found["ls_stop"] = [stop] if isinstance(stop, str) else _plain(stop, None)
    params = {k: _plain(_schema(v), None) for k, v in given.items() if k in INVOCATION_KEYS}
    if record.api_type == "responses":
        params["use_responses_api"] = True
    found["ls_invocation_params"] = params
    return found


def end_metadata(record: CallRecord) -> dict[str, Any]:
    """What tracewrap adds: how the call ended. No other LangSmith integration reports these."""
    found: dict[str, Any] = {}
    for key, value in (
        ("response_model", record.response_model),
        ("response_id", record.response_id),
        ("finish_reason", record.main_finish_reason),
        ("finish_reasons", list(record.finish_reasons) if record.finish_reasons else None),
        ("status", record.status or _outcome(record)),
        ("http_status_code", record.http_status_code),
        ("stream_outcome", record.stream_outcome),
        ("time_to_first_chunk_s", record.time_to_first_chunk),
        ("usage_metadata", usage_metadata(record)),  # kept here too: it survives LANGSMITH_HIDE_OUTPUTS
    ):
        if value is not None:
            found[key] = value
    return found


def _outcome(record: CallRecord) -> str:
    return "error" if record.failed else "cancelled" if record.cancelled else "success"


# LangSmith has no cancelled state: a cancelled @traceable function's run carries the CancelledError
CANCELLED_ERROR = "CancelledError: the caller cancelled the call"


def error(record: CallRecord) -> str | None:
    if not record.failed:
        return CANCELLED_ERROR if record.cancelled else None
    return f"{record.error_type}: {record.error_message}" if record.error_message else record.error_type

"""A finished :class:`~tracewrap.record.CallRecord` as the fields of a LangSmith ``llm`` run (pure).

Messages go out in OpenAI's chat shape (``role``/``content``/``tool_calls``), which LangSmith
renders; usage follows LangSmith's ``usage_metadata`` with absent counts omitted, never 0.
"""

from __future__ import annotations

from typing import Any

from tracewrap.record import CallRecord

_PARAM_PREFIXES = ("gen_ai.request.", "openai.request.")


def openai_message(message: dict[str, Any]) -> dict[str, Any]:
    """A GenAI-convention message (``role`` + ``parts``) in OpenAI's chat shape."""
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    out: dict[str, Any] = {"role": message.get("role") or "user"}
    for part in message.get("parts") or ():
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("content", "")))
        elif kind == "tool_call":
            tool_calls.append(
                {
                    "id": part.get("id"),
                    "type": "function",
                    "function": {"name": part.get("name"), "arguments": part.get("arguments")},
                }
            )
        elif kind == "tool_call_response":
            out["tool_call_id"] = part.get("id")
            texts.append(str(part.get("response", "")))
        else:
            texts.append(f"[{kind}]")  # images, audio, files: only their kind was recorded
    out["content"] = "".join(texts)
    if tool_calls:
        out["tool_calls"] = tool_calls
    return out


def input_messages(record: CallRecord) -> list[dict[str, Any]] | None:
    if record.input_messages is None and record.system_instructions is None:
        return None
    messages: list[dict[str, Any]] = []
    if record.system_instructions:
        messages.append(openai_message({"role": "system", "parts": record.system_instructions}))
    messages.extend(openai_message(m) for m in record.input_messages or ())
    return messages


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
    if usage.cache_read_tokens is not None:
        found["input_token_details"] = {"cache_read": usage.cache_read_tokens}
    if usage.reasoning_tokens is not None:
        found["output_token_details"] = {"reasoning": usage.reasoning_tokens}
    return found or None


def inputs(record: CallRecord, hide: bool) -> dict[str, Any]:
    if hide:
        return {}
    found: dict[str, Any] = {}
    messages = input_messages(record)
    if messages is not None:
        found["messages"] = messages
    if record.request_model:
        found["model"] = record.request_model
    return found


def outputs(record: CallRecord, hide: bool) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if not hide and record.output_messages is not None:
        found["choices"] = [
            {"index": i, "message": openai_message(m), "finish_reason": m.get("finish_reason")}
            for i, m in enumerate(record.output_messages)
        ]
    usage = usage_metadata(record)
    if usage is not None and not hide:
        found["usage_metadata"] = usage
    return found


def metadata(record: CallRecord) -> dict[str, Any]:
    """``ls_*`` keys LangSmith reads for model and cost, plus how the call ended."""
    found: dict[str, Any] = {
        "ls_provider": record.provider,
        "ls_model_type": "chat",
        "ls_invocation_params": invocation_params(record),
    }
    model = record.request_model or record.response_model
    if model:
        found["ls_model_name"] = model
    for key, value in (
        ("ls_temperature", record.request_attributes.get("gen_ai.request.temperature")),
        ("ls_max_tokens", record.request_attributes.get("gen_ai.request.max_tokens")),
        ("response_model", record.response_model),
        ("response_id", record.response_id),
        ("finish_reason", record.main_finish_reason),
        ("finish_reasons", list(record.finish_reasons) if record.finish_reasons else None),
        ("status", record.status or ("error" if record.failed else "success")),
        ("http_status_code", record.http_status_code),
        ("stream_outcome", record.stream_outcome),
        ("time_to_first_chunk_s", record.time_to_first_chunk),
        ("usage_metadata", usage_metadata(record)),  # kept here too: it survives LANGSMITH_HIDE_OUTPUTS
    ):
        if value is not None:
            found[key] = value
    return found


def error(record: CallRecord) -> str | None:
    if not record.failed:
        return None
    return f"{record.error_type}: {record.error_message}" if record.error_message else record.error_type

"""Pure builders for exact OpenAI wire-format bodies and SSE event sequences.

Everything here is deterministic given its inputs (ids and timestamps are parameters with fixed
defaults) and does no I/O, so the same functions back both the HTTP fake server and in-process
benchmarks that plug them into a mock transport.

Streams are lists of ``(event_name | None, data)`` tuples. ``data`` is normally a dict; a ``str`` is
written verbatim (used for the deliberately broken ``invalid_json`` chunk).
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

__all__ = [
    "DEFAULT_CREATED",
    "DONE_LINE",
    "OUTCOMES",
    "SSE_LINE_ENDS",
    "JsonDict",
    "SSEEvent",
    "Scenario",
    "agent_step",
    "chat_completion_body",
    "chat_completion_events",
    "completion_body",
    "completion_events",
    "embeddings_body",
    "encode_sse",
    "error_body",
    "has_tool_result",
    "resolve_model",
    "response_body",
    "response_events",
    "split_text",
    "stream_ends_with_done",
]

JsonDict = dict[str, Any]
SSEEvent = tuple[str | None, JsonDict | str]

Outcome = Literal[
    "ok",
    "length",
    "content_filter",
    "tool_calls",
    "failed",
    "queued",
    "http_error",
    "stream_error",
    "cut",
    "invalid_json",
]
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))

# Fixed timestamp so bodies are reproducible; the server passes the real time.
DEFAULT_CREATED = 1_730_000_000
DONE_LINE = b"data: [DONE]\n\n"
SSE_LINE_ENDS = ("\n", "\r\n", "\r")
STREAM_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"

_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_FALLBACK_MODEL = "gpt-4o-mini"


@dataclass
class Scenario:
    """How the fake answers one request. Defaults give a normal successful call."""

    outcome: Outcome = "ok"
    status_code: int = 500
    error_message: str | None = None
    # an http_error's ``code`` (Azure OpenAI's refused prompt: 400 with "content_filter")
    error_code: str | None = None
    text: str = "Hello! How can I help?"
    json_text: str | None = None
    chunks: int | None = None
    prompt_tokens: int = 12
    completion_tokens: int = 7
    cached_tokens: int | None = None
    # written to the prompt cache (openai 3.x reports it beside cached_tokens); None: not reported
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    # chat: the audio part of the input and of the output, in the details objects (sent with
    # cached_tokens / reasoning_tokens, as OpenAI sends them: 0 for a text-only call)
    audio_tokens: int = 0
    usage: bool = True
    model: str | None = None
    service_tier: str | None = "default"
    system_fingerprint: str | None = "fp_test"
    tool_name: str | None = None
    tool_arguments: str = '{"city":"Paris"}'
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    # Responses background=True: how many retrieves answer in_progress before the final status
    # (the create answers queued; a streamed background create streams as usual)
    background_polls: int = 1
    # an agent's turn: a function call (of ``tool_name`` or the request's first function tool) while
    # the request holds no tool result, the answer ``text`` once it does; decided per request, so
    # concurrent runs can share one scenario (``agent_step`` applies it)
    agent_turn: bool = False
    # images and transcriptions: input tokens that are image / audio tokens (the rest are text);
    # None: none for an image request, all of them for a transcription
    media_input_tokens: int | None = None
    # how a stream's lines end: SSE allows LF, CRLF or CR, and compatible servers differ
    line_end: str = "\n"
    # the Content-Type of a non-streamed chat completion (some compatible servers send text/plain)
    content_type: str = "application/json"
    # Responses: the output ends with the item of a tool the server runs itself (an image
    # generation's image_generation_call, a web search's web_search_call...) instead of a message
    hosted_tool_call: str | None = None
    # chat with n > 1: the last choice's finish reason instead of the outcome's (choices differ)
    last_choice_finish: str | None = None
    # chat streams: Azure OpenAI's first chunk, the prompt's content-filter results alone, with an
    # empty id, model and object and no choices
    prompt_filter_chunk: bool = False
    # chat streams: these choices' finish chunks are never sent, and the body ends (cleanly, without
    # the usage chunk or [DONE]) right after the other choices' finishes: a connection ended early
    unfinished_choices: tuple[int, ...] = ()
    # with unfinished_choices: the connection drops there (no final chunk) instead of the body
    # ending cleanly
    drop_unfinished: bool = False
    # chat streams: the usage chunk holds only ``object``, ``choices`` and ``usage``, none of the
    # envelope (id, model, fingerprint, tier) OpenAI repeats in it: as some compatible servers send it
    bare_usage_chunk: bool = False
    # chat with n > 1, not streamed: the choices listed last index first (OpenAI lists them in
    # order; nothing says a compatible server must)
    choices_reversed: bool = False

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; expected one of {sorted(OUTCOMES)}")
        if self.line_end not in SSE_LINE_ENDS:
            raise ValueError(f"unknown line_end {self.line_end!r}; expected one of {SSE_LINE_ENDS}")


# --------------------------------------------------------------------------- helpers


def has_tool_result(request: Mapping[str, Any]) -> bool:
    """Whether the request carries a tool's result: a chat ``tool`` message or a Responses
    ``function_call_output`` input item."""
    for message in request.get("messages") or ():
        if isinstance(message, Mapping) and message.get("role") == "tool":
            return True
    items = request.get("input")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping) and item.get("type") == "function_call_output":
                return True
    return False


def agent_step(scenario: Scenario, request: Mapping[str, Any]) -> Scenario:
    """The scenario this request gets: ``agent_turn`` resolved to a tool call or the final answer."""
    if not scenario.agent_turn:
        return scenario
    return replace(scenario, outcome="ok" if has_tool_result(request) else "tool_calls", agent_turn=False)


def resolve_model(scenario: Scenario, request: Mapping[str, Any], *, dated: bool = True) -> str:
    """Response model: explicit override, else the request model with a snapshot date like the API."""
    if scenario.model is not None:
        return scenario.model
    model = str(request.get("model") or _FALLBACK_MODEL)
    if dated and not _DATE_SUFFIX.search(model):
        return f"{model}-2024-07-18"
    return model


def split_text(text: str, chunks: int | None) -> list[str]:
    """Split into ``chunks`` near-equal pieces, or into words (keeping leading spaces) when None.

    Joining the pieces always gives back ``text`` exactly.
    """
    if chunks is None:
        pieces = re.findall(r"\s*\S+", text)
        if pieces and len("".join(pieces)) < len(text):
            pieces[-1] += text[len("".join(pieces)) :]  # trailing whitespace
        return pieces or ([text] if text else [])
    if chunks <= 0:
        return []
    size, extra = divmod(len(text), chunks)
    out: list[str] = []
    pos = 0
    for i in range(chunks):
        end = pos + size + (1 if i < extra else 0)
        out.append(text[pos:end])
        pos = end
    return out


_ERROR_KINDS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-test."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access."),
    409: ("invalid_request_error", None, "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again in 20ms."),
    500: ("server_error", None, STREAM_ERROR_MESSAGE),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def error_body(status_code: int, message: str | None = None, code: str | None = None) -> JsonDict:
    """The exact ``{"error": {...}}`` body OpenAI returns for an HTTP error status (``code``: its
    ``code`` instead of the status's usual one)."""
    default = (
        ("server_error", None, STREAM_ERROR_MESSAGE)
        if status_code >= 500
        else (
            "invalid_request_error",
            None,
            "Invalid request.",
        )
    )
    err_type, usual_code, default_message = _ERROR_KINDS.get(status_code, default)
    return {
        "error": {
            "message": message or default_message,
            "type": err_type,
            "param": None,
            "code": code or usual_code,
        }
    }


def stream_ends_with_done(scenario: Scenario) -> bool:
    """Whether a chat/legacy stream for this scenario finishes with ``data: [DONE]``."""
    return scenario.outcome not in ("cut", "stream_error") and not scenario.unfinished_choices


def encode_sse(
    events: Sequence[SSEEvent], chat_style: bool, *, done: bool | None = None, line_end: str = "\n"
) -> bytes:
    """Exact SSE bytes. Chat style writes ``data:`` lines only and (unless ``done=False``) ends with
    ``data: [DONE]``; Responses style adds ``event: <type>`` lines and has no ``[DONE]``. Lines end
    with ``line_end`` (a JSON payload holds no raw line break to confuse with one)."""
    parts: list[bytes] = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        if name is not None and not chat_style:
            parts.append(f"event: {name}\ndata: {payload}\n\n".encode())
        else:
            parts.append(f"data: {payload}\n\n".encode())
    if chat_style if done is None else done:
        parts.append(DONE_LINE)
    encoded = b"".join(parts)
    return encoded if line_end == "\n" else encoded.replace(b"\n", line_end.encode())


def _wants_json(request: Mapping[str, Any], responses_api: bool) -> bool:
    fmt: Any = request.get("text", {}).get("format") if responses_api else request.get("response_format")
    return isinstance(fmt, Mapping) and fmt.get("type") in ("json_schema", "json_object")


def _content_text(scenario: Scenario, request: Mapping[str, Any], responses_api: bool) -> str:
    # Structured-output requests must get JSON back or the SDK's .parse() helpers fail.
    if _wants_json(request, responses_api):
        return scenario.json_text if scenario.json_text is not None else "{}"
    return scenario.text


def _tool_name(scenario: Scenario, request: Mapping[str, Any]) -> str:
    if scenario.tool_name is not None:
        return scenario.tool_name
    for tool in request.get("tools") or []:
        if isinstance(tool, Mapping) and tool.get("type") == "function":
            # Chat nests the name under "function"; Responses has it at top level.
            fn = tool.get("function")
            name = fn.get("name") if isinstance(fn, Mapping) else tool.get("name")
            if name:
                return str(name)
    namespace = _first_namespace(request)
    if namespace is not None:
        return str(namespace[1])
    return "get_weather"


def _first_namespace(request: Mapping[str, Any]) -> tuple[str, str] | None:
    """Responses: the first ``namespace`` tool holding a function, as (namespace, function name)."""
    for tool in request.get("tools") or []:
        if isinstance(tool, Mapping) and tool.get("type") == "namespace":
            for inner in tool.get("tools") or []:
                if isinstance(inner, Mapping) and inner.get("type") == "function" and inner.get("name"):
                    return str(tool.get("name")), str(inner["name"])
    return None


def _arg_pieces(scenario: Scenario) -> list[str]:
    if scenario.chunks is not None:
        return split_text(scenario.tool_arguments, scenario.chunks)
    args = scenario.tool_arguments
    return [args[i : i + 8] for i in range(0, len(args), 8)] or [""]


def _cut_index(n: int) -> int:
    """How many content deltas are sent before a cut/error: about half, at least one."""
    return max(1, n // 2) if n else 0


# --------------------------------------------------------------------------- chat completions

_CHAT_FINISH = {
    "ok": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
}


def _chat_usage(scenario: Scenario) -> JsonDict:
    usage: JsonDict = {
        "prompt_tokens": scenario.prompt_tokens,
        "completion_tokens": scenario.completion_tokens,
        "total_tokens": scenario.prompt_tokens + scenario.completion_tokens,
    }
    if scenario.cached_tokens is not None:
        usage["prompt_tokens_details"] = {
            "cached_tokens": scenario.cached_tokens,
            "audio_tokens": scenario.audio_tokens,
        }
        if scenario.cache_write_tokens is not None:
            usage["prompt_tokens_details"]["cache_write_tokens"] = scenario.cache_write_tokens
    if scenario.reasoning_tokens is not None:
        usage["completion_tokens_details"] = {
            "reasoning_tokens": scenario.reasoning_tokens,
            "audio_tokens": scenario.audio_tokens,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    return usage


def _choice_finishes(scenario: Scenario, finish: str, n: int) -> list[str]:
    last = scenario.last_choice_finish
    return [finish] * n if last is None or n < 2 else [finish] * (n - 1) + [last]


def _choice_count(request: Mapping[str, Any]) -> int:
    n = request.get("n")
    return n if isinstance(n, int) and n > 0 else 1


def chat_completion_body(
    scenario: Scenario,
    request: Mapping[str, Any],
    *,
    id: str = "chatcmpl-test",
    created: int = DEFAULT_CREATED,
) -> JsonDict:
    """Non-streaming ``chat.completion`` object (``n`` choices)."""
    finish = _CHAT_FINISH.get(scenario.outcome, "stop")
    if scenario.outcome == "tool_calls":
        message: JsonDict = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{id[-12:]}",
                    "type": "function",
                    "function": {"name": _tool_name(scenario, request), "arguments": scenario.tool_arguments},
                }
            ],
            "refusal": None,
            "annotations": [],
        }
    else:
        message = {
            "role": "assistant",
            "content": _content_text(scenario, request, False),
            "refusal": None,
            "annotations": [],
        }
    body: JsonDict = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": resolve_model(scenario, request),
        "choices": [
            {"index": i, "message": dict(message), "logprobs": None, "finish_reason": reason}
            for i, reason in enumerate(_choice_finishes(scenario, finish, _choice_count(request)))
        ],
    }
    if scenario.choices_reversed:
        body["choices"].reverse()
    if scenario.usage:
        body["usage"] = _chat_usage(scenario)
    body["service_tier"] = scenario.service_tier
    body["system_fingerprint"] = scenario.system_fingerprint
    return body


_SAFE = {"filtered": False, "severity": "safe"}
_PROMPT_FILTER_CHUNK: JsonDict = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": [
        {
            "prompt_index": 0,
            "content_filter_results": {k: _SAFE for k in ("hate", "self_harm", "sexual", "violence")},
        }
    ],
}


def chat_completion_events(
    scenario: Scenario,
    request: Mapping[str, Any],
    *,
    id: str = "chatcmpl-test",
    created: int = DEFAULT_CREATED,
) -> list[SSEEvent]:
    """``chat.completion.chunk`` events (without the trailing ``[DONE]``; see :func:`encode_sse`).

    Failure outcomes are applied here: ``stream_error`` ends with an ``{"error": ...}`` chunk,
    ``cut`` simply stops half-way, ``invalid_json`` inserts a non-JSON chunk.
    """
    opts = request.get("stream_options")
    include_usage = isinstance(opts, Mapping) and bool(opts.get("include_usage"))
    base: JsonDict = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": resolve_model(scenario, request),
        "service_tier": scenario.service_tier,
        "system_fingerprint": scenario.system_fingerprint,
    }
    n = _choice_count(request)

    def chunk(choices: list[JsonDict]) -> SSEEvent:
        obj = {**base, "choices": choices}
        if include_usage:
            obj["usage"] = None  # the real API sends an explicit null on every non-final chunk
        return (None, obj)

    def choice(i: int, delta: JsonDict, finish: str | None = None) -> JsonDict:
        return {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}

    tool = scenario.outcome == "tool_calls"
    if tool:
        name = _tool_name(scenario, request)
        pieces = _arg_pieces(scenario)
        first: JsonDict = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": f"call_{id[-12:]}",
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
            ],
            "refusal": None,
        }
    else:
        pieces = split_text(_content_text(scenario, request, False), scenario.chunks)
        first = {"role": "assistant", "content": "", "refusal": None}

    events: list[SSEEvent] = [chunk([choice(i, dict(first))]) for i in range(n)]
    if scenario.prompt_filter_chunk:
        events.insert(0, (None, _PROMPT_FILTER_CHUNK))
    broken = scenario.outcome in ("cut", "stream_error")
    limit = _cut_index(len(pieces)) if broken else len(pieces)
    for k, piece in enumerate(pieces[:limit]):
        for i in range(n):
            delta: JsonDict = {"content": piece}
            if tool:
                delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            events.append(chunk([choice(i, delta)]))
        if k == 0 and scenario.outcome == "invalid_json":
            events.append((None, '{"id": "chatcmpl-broken", "choices": [ not json'))
    if scenario.outcome == "cut":
        return events
    if scenario.outcome == "stream_error":
        events.append((None, error_body(500, scenario.error_message)))
        return events
    finish = _CHAT_FINISH.get(scenario.outcome, "stop")
    events.extend(
        chunk([choice(i, {}, reason)])
        for i, reason in enumerate(_choice_finishes(scenario, finish, n))
        if i not in scenario.unfinished_choices
    )
    if scenario.unfinished_choices:
        return events
    if include_usage and scenario.usage:
        envelope = {"object": base["object"]} if scenario.bare_usage_chunk else base
        events.append((None, {**envelope, "choices": [], "usage": _chat_usage(scenario)}))
    return events


# --------------------------------------------------------------------------- legacy completions


def completion_body(
    scenario: Scenario,
    request: Mapping[str, Any],
    *,
    id: str = "cmpl-test",
    created: int = DEFAULT_CREATED,
) -> JsonDict:
    """Non-streaming legacy ``text_completion`` object."""
    finish = {"length": "length", "content_filter": "content_filter"}.get(scenario.outcome, "stop")
    body: JsonDict = {
        "id": id,
        "object": "text_completion",
        "created": created,
        # The legacy endpoint echoes the model name without a snapshot date.
        "model": resolve_model(scenario, request, dated=False),
        "choices": [
            {"text": scenario.text, "index": i, "logprobs": None, "finish_reason": finish}
            for i in range(_choice_count(request))
        ],
    }
    if scenario.usage:
        body["usage"] = _chat_usage(scenario)
    if scenario.system_fingerprint is not None:
        body["system_fingerprint"] = scenario.system_fingerprint
    return body


def completion_events(
    scenario: Scenario,
    request: Mapping[str, Any],
    *,
    id: str = "cmpl-test",
    created: int = DEFAULT_CREATED,
) -> list[SSEEvent]:
    """Legacy completion stream chunks (``text_completion`` objects), without ``[DONE]``."""
    opts = request.get("stream_options")
    include_usage = isinstance(opts, Mapping) and bool(opts.get("include_usage"))
    model = resolve_model(scenario, request, dated=False)

    def chunk(text: str, finish: str | None) -> SSEEvent:
        obj: JsonDict = {
            "id": id,
            "object": "text_completion",
            "created": created,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
            "model": model,
            "system_fingerprint": scenario.system_fingerprint,
        }
        if include_usage:
            obj["usage"] = None
        return (None, obj)

    pieces = split_text(scenario.text, scenario.chunks)
    broken = scenario.outcome in ("cut", "stream_error")
    limit = _cut_index(len(pieces)) if broken else len(pieces)
    events: list[SSEEvent] = []
    for k, piece in enumerate(pieces[:limit]):
        events.append(chunk(piece, None))
        if k == 0 and scenario.outcome == "invalid_json":
            events.append((None, "{not json"))
    if scenario.outcome == "cut":
        return events
    if scenario.outcome == "stream_error":
        events.append((None, error_body(500, scenario.error_message)))
        return events
    finish = {"length": "length", "content_filter": "content_filter"}.get(scenario.outcome, "stop")
    events.append(chunk("", finish))
    if include_usage and scenario.usage:
        events.append(
            (
                None,
                {
                    "id": id,
                    "object": "text_completion",
                    "created": created,
                    "choices": [],
                    "model": model,
                    "system_fingerprint": scenario.system_fingerprint,
                    "usage": _chat_usage(scenario),
                },
            )
        )
    return events


# --------------------------------------------------------------------------- embeddings


def _embedding_vector(index: int, dims: int) -> list[float]:
    # Multiples of 1/64 are exact in float32, so base64 and float modes decode to identical values.
    return [((index + j) % 64 + 1) / 64 for j in range(dims)]


def embeddings_body(scenario: Scenario, request: Mapping[str, Any]) -> JsonDict:
    """``list`` of ``embedding`` objects, one per input; honours ``dimensions`` and ``encoding_format``
    (``base64`` = little-endian float32, which the SDK requests by default)."""
    raw = request.get("input")
    # A flat list of ints is one pre-tokenized input; a list of str / token lists is several inputs.
    several = isinstance(raw, list) and raw and not all(isinstance(x, int) for x in raw)
    count = len(raw) if several and isinstance(raw, list) else 1
    dims = request.get("dimensions")
    dims = dims if isinstance(dims, int) and dims > 0 else 8
    b64 = request.get("encoding_format") == "base64"
    data: list[JsonDict] = []
    for i in range(count):
        vec = _embedding_vector(i, dims)
        emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode("ascii") if b64 else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return {
        "object": "list",
        "data": data,
        "model": resolve_model(scenario, request, dated=False),
        "usage": {"prompt_tokens": scenario.prompt_tokens, "total_tokens": scenario.prompt_tokens},
    }


# --------------------------------------------------------------------------- responses API

_INCOMPLETE_REASON = {"length": "max_output_tokens", "content_filter": "content_filter"}


def _response_usage(scenario: Scenario) -> JsonDict:
    usage: JsonDict = {"input_tokens": scenario.prompt_tokens}
    if scenario.cached_tokens is not None:
        usage["input_tokens_details"] = {"cached_tokens": scenario.cached_tokens}
        if scenario.cache_write_tokens is not None:
            usage["input_tokens_details"]["cache_write_tokens"] = scenario.cache_write_tokens
    usage["output_tokens"] = scenario.completion_tokens
    if scenario.reasoning_tokens is not None:
        usage["output_tokens_details"] = {"reasoning_tokens": scenario.reasoning_tokens}
    usage["total_tokens"] = scenario.prompt_tokens + scenario.completion_tokens
    return usage


def _final_status(scenario: Scenario) -> str:
    if scenario.outcome in _INCOMPLETE_REASON:
        return "incomplete"
    if scenario.outcome in ("failed", "queued"):
        return scenario.outcome
    return "completed"


def _output_items(scenario: Scenario, request: Mapping[str, Any], id: str) -> list[JsonDict]:
    """Final output items: optional reasoning item, then a message or a function_call."""
    suffix = id.removeprefix("resp_")
    items: list[JsonDict] = []
    if scenario.reasoning_tokens is not None:
        items.append({"id": f"rs_{suffix}", "type": "reasoning", "summary": []})
    if scenario.outcome == "tool_calls":
        items.append(
            {
                "id": f"fc_{suffix}",
                "type": "function_call",
                "status": "completed",
                "arguments": scenario.tool_arguments,
                "call_id": f"call_{suffix[-12:]}",
                "name": _tool_name(scenario, request),
            }
        )
        namespace = _first_namespace(request)
        if namespace is not None and namespace[1] == items[-1]["name"]:
            items[-1]["namespace"] = namespace[0]  # a function of a namespace tool is called by both
    elif scenario.hosted_tool_call is not None:
        items.append({"id": f"ht_{suffix}", "type": scenario.hosted_tool_call, "status": "completed"})
    else:
        items.append(
            {
                "id": f"msg_{suffix}",
                "type": "message",
                "status": "incomplete" if scenario.outcome in _INCOMPLETE_REASON else "completed",
                "content": [
                    {
                        "type": "output_text",
                        "annotations": [],
                        "logprobs": [],
                        "text": _content_text(scenario, request, True),
                    }
                ],
                "role": "assistant",
            }
        )
    return items


def response_body(
    scenario: Scenario,
    request: Mapping[str, Any],
    *,
    id: str = "resp_test",
    created_at: int = DEFAULT_CREATED,
    status: str | None = None,
    output: list[JsonDict] | None = None,
    with_usage: bool | None = None,
) -> JsonDict:
    """Full ``response`` object. ``status``/``output``/``with_usage`` override the final values (used
    for the in-progress snapshots inside streams)."""
    status = status or _final_status(scenario)
    if output is None:
        output = [] if status in ("failed", "queued", "in_progress") else _output_items(scenario, request, id)
    if with_usage is None:
        with_usage = status not in ("queued", "in_progress")
    text_cfg = request.get("text")
    if not (isinstance(text_cfg, Mapping) and "format" in text_cfg):
        text_cfg = {"format": {"type": "text"}}
    body: JsonDict = {
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": bool(request.get("background", False)),
        "error": (
            {"code": "server_error", "message": scenario.error_message or STREAM_ERROR_MESSAGE}
            if status == "failed"
            else None
        ),
        "incomplete_details": (
            {"reason": _INCOMPLETE_REASON[scenario.outcome]} if status == "incomplete" else None
        ),
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "model": resolve_model(scenario, request),
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": request.get("reasoning") or {"effort": None, "summary": None},
        "service_tier": scenario.service_tier,
        "store": request.get("store", True),
        "temperature": request.get("temperature", 1.0),
        "text": text_cfg,
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p", 1.0),
        "truncation": request.get("truncation", "disabled"),
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }
    if scenario.usage and with_usage:
        body["usage"] = _response_usage(scenario)
    elif scenario.usage:
        body["usage"] = None  # in-progress snapshots carry an explicit null
    return body


def response_events(
    scenario: Scenario,
    request: Mapping[str, Any],
    *,
    id: str = "resp_test",
    created_at: int = DEFAULT_CREATED,
) -> list[SSEEvent]:
    """The Responses API event sequence, each ``(type, {"type": ..., "sequence_number": n, ...})``.

    Ends with ``response.completed`` / ``.incomplete`` / ``.failed``; ``stream_error`` ends with an
    ``error`` event, ``cut`` stops half-way, ``queued`` stops after ``response.queued``.
    """
    events: list[SSEEvent] = []

    def emit(etype: str, **fields: Any) -> None:
        events.append((etype, {"type": etype, "sequence_number": len(events), **fields}))

    def snapshot(status: str) -> JsonDict:
        return response_body(scenario, request, id=id, created_at=created_at, status=status, output=[])

    if scenario.outcome == "queued":
        emit("response.created", response=snapshot("queued"))
        emit("response.queued", response=snapshot("queued"))
        return events

    emit("response.created", response=snapshot("in_progress"))
    emit("response.in_progress", response=snapshot("in_progress"))
    if scenario.outcome == "failed":
        emit("response.failed", response=response_body(scenario, request, id=id, created_at=created_at))
        return events

    broken = scenario.outcome in ("cut", "stream_error")
    items = _output_items(scenario, request, id)
    for index, item in enumerate(items):
        if item["type"] == "reasoning":
            emit("response.output_item.added", output_index=index, item=item)
            emit("response.output_item.done", output_index=index, item=item)
        elif item["type"] == "function_call":
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            pieces = _arg_pieces(scenario)
            for piece in pieces[: _cut_index(len(pieces))] if broken else pieces:
                emit(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=piece,
                )
            if broken:
                break
            emit(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
            emit("response.output_item.done", output_index=index, item=item)
        else:
            part = item["content"][0]
            ids: JsonDict = {"item_id": item["id"], "output_index": index, "content_index": 0}
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            emit("response.content_part.added", **ids, part={**part, "text": ""})
            pieces = split_text(part["text"], scenario.chunks)
            for k, piece in enumerate(pieces[: _cut_index(len(pieces))] if broken else pieces):
                emit("response.output_text.delta", **ids, delta=piece, logprobs=[])
                if k == 0 and scenario.outcome == "invalid_json":
                    events.append(("response.output_text.delta", "{not json"))
            if broken:
                break
            emit("response.output_text.done", **ids, text=part["text"], logprobs=[])
            emit("response.content_part.done", **ids, part=part)
            emit("response.output_item.done", output_index=index, item=item)

    if scenario.outcome == "cut":
        return events
    if scenario.outcome == "stream_error":
        emit(
            "error",
            code="server_error",
            message=scenario.error_message or STREAM_ERROR_MESSAGE,
            param=None,
        )
        return events
    status = _final_status(scenario)
    emit(f"response.{status}", response=response_body(scenario, request, id=id, created_at=created_at))
    return events

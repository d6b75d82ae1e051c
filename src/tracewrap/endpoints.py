"""What each traced path means: its operation, how to read its request and its response.

A path is dotted and relative to a client, like ``chat.completions.create`` (the idea of
LangSmith's ``ModuleWrapper(llm_paths=...)``). Paths through ``with_raw_response`` /
``with_streaming_response`` name the same endpoint; the SDK builds those wrappers around the
resource's own method, so tracing the method traces them too. The ``.stream()`` helpers call
``create`` (``retrieve`` for a resumed Responses stream) inside, so their span is that call's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tracewrap.normalize import content, requests
from tracewrap.normalize.accumulator import AccumulatorFactory
from tracewrap.normalize.chat import ChatStreamAccumulator, read_chat_completion
from tracewrap.normalize.embeddings import read_embeddings, read_generic
from tracewrap.normalize.media import (
    MediaStreamAccumulator,
    read_compacted,
    read_media,
    read_moderation,
    read_nothing,
)
from tracewrap.normalize.realtime import RealtimeAccumulator, read_realtime_response
from tracewrap.normalize.responses import ResponsesStreamAccumulator, read_response
from tracewrap.record import CallRecord
from tracewrap.telemetry import counting

RequestReader = Callable[[Mapping[str, Any], CallRecord], None]
ResponseReader = Callable[[Any, CallRecord, bool], None]
ContentReader = Callable[[Mapping[str, Any]], "list[dict[str, Any]] | None"]

CHAT_COMPLETIONS = "chat_completions"
RESPONSES = "responses"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Endpoint:
    """What one traced path means; built with keywords, shared by every call on the path.

    Compared and hashed by identity (``eq=False``): every endpoint is a module constant or interned
    (:func:`tracewrap.routes.api_call_endpoint`), and call sites are looked up by endpoint on every
    call: a dataclass's field-by-field hash cost 250-400 ns there."""

    # gen_ai.operation.name: ``chat``, ``embeddings``, ``generate_content``... (or the path itself)
    operation: str
    # openai.api.type, telling apart APIs with one operation (chat completions / responses / realtime)
    api_type: str | None
    # the request's keyword arguments into the record, at the start of the call
    read_request: RequestReader
    # a whole response (or a stream's final state) into the record; the flag: content capture is on
    read_response: ResponseReader
    # a stream's state for this API (:class:`tracewrap.normalize.accumulator.Accumulator`), called
    # with whether content capture is on; None for endpoints that never stream
    new_accumulator: AccumulatorFactory | None = None
    # the input messages / system instructions as content events (read only when capture is on)
    read_input: ContentReader | None = None
    read_instructions: ContentReader | None = None
    # run once when the call ends, before anything is recorded: who counts usage (telemetry.counting)
    settle: Callable[[CallRecord], None] | None = None
    # the request's positional arguments (``retrieve(response_id)``), read at the start
    read_args: Callable[[tuple[Any, ...], CallRecord], None] | None = None
    # a generic API call's (tracewrap.routes): its span name, and span-only attributes (method, route)
    span_name: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()


CHAT = Endpoint(
    operation="chat",
    api_type=CHAT_COMPLETIONS,
    read_request=requests.read_chat_request,
    read_response=read_chat_completion,
    new_accumulator=ChatStreamAccumulator,
    read_input=content.chat_input_messages,
)
RESPONSE = Endpoint(
    operation="chat",
    api_type=RESPONSES,
    read_request=requests.read_responses_request,
    read_response=read_response,
    new_accumulator=ResponsesStreamAccumulator,
    read_input=content.responses_input_messages,
    read_instructions=content.responses_instructions,
    settle=counting.after_create,
)
FETCH_RESPONSE = Endpoint(
    operation="fetch_response",
    api_type=RESPONSES,
    read_request=requests.read_retrieve_request,
    read_response=read_response,
    new_accumulator=ResponsesStreamAccumulator,
    settle=counting.after_fetch,
    read_args=requests.read_retrieve_args,
)
# responses.cancel answers with the response, cancelled: read as a fetch, so a background response
# cancelled and never retrieved is still counted, once (telemetry.counting)
CANCEL_RESPONSE = Endpoint(
    operation="cancel_response",
    api_type=RESPONSES,
    read_request=requests.read_retrieve_request,
    read_response=read_response,
    settle=counting.after_fetch,
    read_args=requests.read_retrieve_args,
)
TEXT_COMPLETION = Endpoint(
    operation="text_completion",
    api_type=None,
    read_request=requests.read_completion_request,
    read_response=read_chat_completion,
    new_accumulator=ChatStreamAccumulator,
    read_input=content.chat_input_messages,
)
EMBEDDINGS = Endpoint(
    operation="embeddings",
    api_type=None,
    read_request=requests.read_embeddings_request,
    read_response=read_embeddings,
)

# The other paid endpoints. The conventions' `generate_content` (multimodal generation) names images
# and audio, with gen_ai.output.type image / speech / text; `openai.api.type` tells the APIs apart.
# Moderations, compaction and token counts have no conventional operation: tracewrap names them.
GENERATE_CONTENT = "generate_content"
IMAGES = Endpoint(
    operation=GENERATE_CONTENT,
    api_type="images",
    read_request=requests.media_request_reader("image"),
    read_response=read_media,
    new_accumulator=MediaStreamAccumulator,
)
SPEECH = Endpoint(
    operation=GENERATE_CONTENT,
    api_type="audio.speech",
    read_request=requests.media_request_reader("speech"),
    read_response=read_nothing,
)
TRANSCRIPTION = Endpoint(
    operation=GENERATE_CONTENT,
    api_type="audio.transcriptions",
    read_request=requests.media_request_reader("text"),
    read_response=read_media,
    new_accumulator=MediaStreamAccumulator,
)
TRANSLATION = Endpoint(
    operation=GENERATE_CONTENT,
    api_type="audio.translations",
    read_request=requests.media_request_reader("text"),
    read_response=read_media,
)
MODERATION = Endpoint(
    operation="moderation",
    api_type="moderations",
    read_request=requests.read_model_request,
    read_response=read_moderation,
)
COMPACT_RESPONSE = Endpoint(
    operation="compact_response",
    api_type=RESPONSES,
    read_request=requests.read_responses_request,
    read_response=read_compacted,
)
COUNT_TOKENS = Endpoint(
    operation="count_tokens",
    api_type=RESPONSES,
    read_request=requests.read_model_request,
    read_response=read_nothing,
)
# a realtime response (``client.realtime.connect()``): the conventions' ``chat``, told apart by api type
REALTIME = Endpoint(
    operation="chat",
    api_type="realtime",
    read_request=requests.read_responses_request,
    read_response=read_realtime_response,
    new_accumulator=RealtimeAccumulator,
    read_input=content.responses_input_messages,
    read_instructions=content.responses_instructions,
)

# path -> (endpoint, the method that is really wrapped on the resource)
KNOWN_PATHS: dict[str, tuple[Endpoint, str]] = {
    "chat.completions.create": (CHAT, "create"),
    "chat.completions.parse": (CHAT, "parse"),
    "chat.completions.stream": (CHAT, "create"),
    "responses.create": (RESPONSE, "create"),
    "responses.parse": (RESPONSE, "parse"),
    "responses.stream": (RESPONSE, "create"),
    "responses.retrieve": (FETCH_RESPONSE, "retrieve"),
    "responses.cancel": (CANCEL_RESPONSE, "cancel"),
    "completions.create": (TEXT_COMPLETION, "create"),
    "embeddings.create": (EMBEDDINGS, "create"),
    "images.generate": (IMAGES, "generate"),
    "images.edit": (IMAGES, "edit"),
    "images.create_variation": (IMAGES, "create_variation"),
    "audio.speech.create": (SPEECH, "create"),
    "audio.transcriptions.create": (TRANSCRIPTION, "create"),
    "audio.translations.create": (TRANSLATION, "create"),
    "moderations.create": (MODERATION, "create"),
    "responses.compact": (COMPACT_RESPONSE, "compact"),
    "responses.input_tokens.count": (COUNT_TOKENS, "count"),
}
# paths only some SDK majors have (openai 1.x has neither): skipped where the client lacks them
SDK_DEPENDENT_PATHS = frozenset({"responses.compact", "responses.input_tokens.count"})
# responses.stream(response_id=...) resumes through retrieve(stream=True)
_ALSO_WRAPPED = {"responses.stream": ("responses.retrieve",)}

# WebSocket connections: no method is wrapped for these paths; naming one traces each response on
# the connections the client opens (interception.websocket); openai 3.x and late 2.x, skipped where
# the SDK has no connect()
CONNECT_PATHS: dict[str, Endpoint] = {"responses.connect": RESPONSE, "realtime.connect": REALTIME}

DEFAULT_PATHS: tuple[str, ...] = (*KNOWN_PATHS, *CONNECT_PATHS)

_VIA = ("with_raw_response", "with_streaming_response")


def generic_endpoint(path: str) -> Endpoint:
    """A path with no known endpoint still gets a span: operation = the path, duck-typed response."""
    return Endpoint(
        operation=path,
        api_type=None,
        read_request=requests.read_generic_request,
        read_response=read_generic,
    )


def resolve(path: str) -> list[tuple[str, str, Endpoint]]:
    """``path`` → ``[(resource path, method name, endpoint)]`` to wrap.

    Raises ``ValueError`` for a path that is not a dotted name; existence on the client is
    checked by the installer.
    """
    if not isinstance(path, str) or not path or any(not part.isidentifier() for part in path.split(".")):
        raise ValueError(f"tracewrap: {path!r} is not a dotted path such as 'chat.completions.create'")
    parts = [p for p in path.split(".") if p not in _VIA]
    if len(parts) < 2:
        raise ValueError(f"tracewrap: {path!r} must name a method on a resource, e.g. 'embeddings.create'")
    clean = ".".join(parts)
    resolved = []
    for one in (clean, *_ALSO_WRAPPED.get(clean, ())):
        endpoint, method = KNOWN_PATHS.get(one, (None, one.rsplit(".", 1)[1]))
        resolved.append((one.rsplit(".", 1)[0], method, endpoint or generic_endpoint(one)))
    return resolved

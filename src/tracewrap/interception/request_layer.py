"""Calls that reach the client's request layer without passing a traced resource method.

litellm (and with it dspy, smolagents' ``LiteLLMModel``...) calls ``client.post("/chat/completions",
body=..., cast_to=...)`` itself, and a few SDK resources (``client.beta.responses``, the
``beta.chat`` objects a ``wrap(client)`` never saw) send through the same layer. Every SDK major
(1.x, 2.x, 3.x) funnels ``post`` / ``get`` into ``request(cast_to, options, *, stream, stream_cls)``
on ``SyncAPIClient`` / ``AsyncAPIClient``, with ``options`` a ``FinalRequestOptions``: its ``method``
and ``url`` say which endpoint, its ``json_data`` is the request body (the same keys as the
resource method's keyword arguments; ``extra_body`` is still apart, in ``extra_json``, merged only
when the HTTP request is built), its ``params`` the query.

The query is not the method's arguments: the SDK has already merged ``extra_query`` into it, and
that can carry credentials (a signature, a token), which no span or LangSmith run may hold. So the
only query keys ever read are a retrieve's own parameters (:data:`RETRIEVE_QUERY`); a generic call
is read from its body alone. Headers (``extra_headers`` among them) are never read.

A call that did pass a traced resource method has ``_in_traced_call`` set, so the request layer
passes it straight through: one span per logical call. It tells that call its request is being
sent (:meth:`~tracewrap.telemetry.lifecycle.TracedCall.sending`: observers' ``on_send``), in the
context the SDK sends it in: inside any wrapper between tracewrap's and the SDK method. Otherwise
a known endpoint gets one span, read from the body as a resource call is read from its arguments,
and its result (model, stream, raw response) is finished by :mod:`.results` like any other. Any
other request (files, batches, vector stores, ``responses.delete``...) gets a generic ``api_call``
span named after its method and route template (:mod:`tracewrap.routes`), when every default path
is traced: one span per HTTP request, so each further page an auto-paginating ``list()`` fetches
is a span of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tracewrap.endpoints import (
    CANCEL_RESPONSE,
    CHAT,
    DEFAULT_PATHS,
    EMBEDDINGS,
    FETCH_RESPONSE,
    KNOWN_PATHS,
    RESPONSE,
    TEXT_COMPLETION,
    Endpoint,
)
from tracewrap.interception.calls import _in_traced_call, read_args, run_traced, run_traced_async
from tracewrap.routes import ANY_ROUTE, api_call_endpoint
from tracewrap.telemetry.lifecycle import CallSite, internal_error, start

# POST path -> endpoint (chat before legacy completions: a full URL is matched by its ending)
_POST_PATHS: tuple[tuple[str, Endpoint], ...] = (
    ("/chat/completions", CHAT),
    ("/responses", RESPONSE),
    ("/completions", TEXT_COMPLETION),
    ("/embeddings", EMBEDDINGS),
)
_RETRIEVE_PREFIX = "/responses/"
_CANCEL_SUFFIX = "/cancel"
# ``responses.retrieve``'s own query parameters: all a fetch reads of its query (the same arguments
# the resource method's call shows), never the rest, where ``extra_query`` has been merged
RETRIEVE_QUERY = ("include", "include_obfuscation", "starting_after", "stream")

# (the endpoint, its arguments read from the body or query, the positional arguments its reader takes)
Routed = tuple[Endpoint, Mapping[str, Any], tuple[Any, ...]]
# the call site of a call on a client, for an endpoint (None: pass the call through)
ClientSiteOf = Callable[[Any, Endpoint], "CallSite | None"]


def traced_endpoints(paths: Iterable[str]) -> frozenset[Endpoint]:
    """The known endpoints the traced paths name (only those are picked up at the request layer),
    and :data:`~tracewrap.routes.ANY_ROUTE` when every default path is traced: then any other
    request gets a generic span. ``paths=[...]`` naming fewer is a narrowing: no generic spans."""
    paths = tuple(paths)
    found = {KNOWN_PATHS[p][0] for p in paths if p in KNOWN_PATHS}
    if RESPONSE in found:  # responses.stream(response_id=...) resumes through retrieve
        found.add(FETCH_RESPONSE)
    if set(DEFAULT_PATHS).issubset(paths):
        found.add(ANY_ROUTE)
    return frozenset(found)


def _path(url: str) -> str:
    if "://" in url:  # an absolute URL: keep its path
        url = url.split("://", 1)[1].partition("/")[2]
        url = "/" + url
    return url.split("?", 1)[0].rstrip("/")


def route(options: Any, enabled: frozenset[Endpoint]) -> Routed | None:
    """Which known endpoint a request is for, with its arguments and positional arguments: the body
    (``extra_body`` is not in it), or for a retrieve the :data:`RETRIEVE_QUERY` keys of the query."""
    url = getattr(options, "url", None)
    method = getattr(options, "method", None)
    if not isinstance(url, str) or not isinstance(method, str):
        return None
    path = _path(url)
    verb = method.lower()
    if verb == "post":
        response_id = _response_id(path.removesuffix(_CANCEL_SUFFIX))
        if response_id is not None and path.endswith(_CANCEL_SUFFIX):
            return (CANCEL_RESPONSE, {}, (response_id,)) if CANCEL_RESPONSE in enabled else None
        for suffix, endpoint in _POST_PATHS:
            if path == suffix or path.endswith(suffix):
                if endpoint not in enabled:
                    return None
                body = options.json_data
                return endpoint, body if isinstance(body, Mapping) else {}, ()
    elif verb == "get":
        response_id = _response_id(path)
        if response_id is not None:
            if FETCH_RESPONSE not in enabled:
                return None
            params = options.params
            query = (
                {k: params[k] for k in RETRIEVE_QUERY if k in params} if isinstance(params, Mapping) else {}
            )
            return FETCH_RESPONSE, query, (response_id,)
    if ANY_ROUTE not in enabled:
        return None
    # any other endpoint: a generic span (only the model is read), from its body; never its query
    body = options.json_data
    return api_call_endpoint(verb, path), body if isinstance(body, Mapping) else {}, ()


def _response_id(path: str) -> str | None:
    """The id in ``.../responses/{id}``, else None."""
    _head, sep, response_id = path.rpartition(_RETRIEVE_PREFIX)
    return response_id if sep and response_id and "/" not in response_id else None


def _options_of(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    return args[1] if len(args) > 1 else kwargs.get("options")


def _sending(outer: Any) -> None:
    """The traced call on the way (a weak reference) is sending its request: its observers hear it."""
    call = outer()
    if call is not None and call.observed is not None:
        call.sending()


def _begin(
    client: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], enabled: Any, site_of: Any, is_async: bool
) -> Any:
    try:
        routed = route(_options_of(args, kwargs), enabled)
        if routed is None:
            return None
        endpoint, request, positional = routed
        site = site_of(client, endpoint)
        if site is None:
            return None
    except Exception as exc:
        internal_error("request_layer", exc)
        return None
    call = start(site, request, is_async)
    if call is None:
        return None
    if positional:
        read_args(positional, call)
    if call.observed is not None:
        call.sending()  # started where the request is sent
    return call


def sync_request_wrapper(enabled: Callable[[], frozenset[Endpoint]], site_of: ClientSiteOf) -> Any:
    """The wrapper for ``SyncAPIClient.request`` (``enabled()``: the endpoints traced right now)."""

    def traced(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        outer = _in_traced_call.get()
        if outer is not None:  # a traced resource method is on the way: its span is the call's
            _sending(outer)
            return wrapped(*args, **kwargs)
        call = _begin(instance, args, kwargs, enabled(), site_of, False)
        if call is None:
            return wrapped(*args, **kwargs)
        return run_traced(call, wrapped, args, kwargs)

    return traced


def async_request_wrapper(enabled: Callable[[], frozenset[Endpoint]], site_of: ClientSiteOf) -> Any:
    """The wrapper for ``AsyncAPIClient.request``."""

    async def traced(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        outer = _in_traced_call.get()
        if outer is not None:
            _sending(outer)
            return await wrapped(*args, **kwargs)
        call = _begin(instance, args, kwargs, enabled(), site_of, True)
        if call is None:
            return await wrapped(*args, **kwargs)
        return await run_traced_async(call, wrapped(*args, **kwargs))

    return traced

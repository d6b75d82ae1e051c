"""Every other API call: one generic span named after its endpoint (``GET /files/{id}``).

A request that reaches the client's request layer without passing a traced resource method and is
for no known endpoint (files, batches, vector stores, conversations, ``responses.delete``,
``beta.*``...) is traced as operation ``api_call`` when every default path is traced
(see :func:`tracewrap.interception.request_layer.traced_endpoints`).

Its span name and attributes carry the HTTP method and the path as a TEMPLATE: each segment that is
not an API word (lower-case letters and ``_``: ``files``, ``vector_stores``, ``input_items``) is an
id (``file-abc123``, ``batch_6789...``, ``vs_...``, ``resp_...``, ``conv_...``, a model name with a
digit or ``-``) and becomes ``{id}``. So names stay few whatever the ids; and at most
:data:`MAX_ROUTES` templates are kept per process, any further one is ``{METHOD} /{other}``.
"""

from __future__ import annotations

import re

from tracewrap.endpoints import Endpoint
from tracewrap.fork_safe import module_lock
from tracewrap.normalize.api_calls import read_api_call, read_api_call_request

API_CALL = "api_call"  # gen_ai.operation.name of a generic call (tracewrap's name, documented)
HTTP_METHOD = "tracewrap.http.method"
HTTP_ROUTE = "tracewrap.http.route"
ID = "{id}"
OTHER_ROUTE = "/{other}"
MAX_ROUTES = 256

# in the endpoints a request layer traces: every call for no known endpoint gets a generic span
ANY_ROUTE = Endpoint(
    operation=API_CALL,
    api_type=None,
    read_request=read_api_call_request,
    read_response=read_api_call,
)

_WORD = re.compile(r"[a-z][a-z_]{0,39}\Z")
# ids the API writes as prefix + "_" + random part: caught even when the random part has no digit
# (no API word starts with one of these and "_"; ``file-...`` / ``ftjob-...`` ids have a dash)
_ID_PREFIXES = frozenset(
    {
        *("batch", "vs", "vsfb", "resp", "conv", "msg", "asst", "thread", "run", "step", "ftckpt"),
        *("cntr", "cfile", "eval", "evalrun", "upload", "part", "proj", "key", "sess", "item", "rs"),
        *("fc", "cthr", "cthi", "video", "skill", "user", "org", "invite", "svcacct", "cert", "chatcmpl"),
    }
)
_VERSION = re.compile(r"v\d{1,2}\Z")  # "/v1/files" when a library passes an absolute URL
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

_endpoints: dict[tuple[str, str], Endpoint] = {}
_lock = module_lock(globals(), "_lock")


def route_template(path: str) -> str:
    """``/vector_stores/vs_abc123/files/file-9`` → ``/vector_stores/{id}/files/{id}``."""
    parts = []
    for index, segment in enumerate(s for s in path.split("/") if s):
        if _WORD.match(segment) is not None:
            literal = segment.partition("_")[0] not in _ID_PREFIXES or "_" not in segment
        else:
            literal = index == 0 and _VERSION.match(segment) is not None
        parts.append(segment if literal else ID)
    return "/" + "/".join(parts)


def api_call_endpoint(method: str, path: str) -> Endpoint:
    """The (interned) generic endpoint of one HTTP method and concrete path."""
    verb = method.upper()
    if verb not in _METHODS:
        verb = "OTHER"
    key = (verb, route_template(path))
    found = _endpoints.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _endpoints and len(_endpoints) >= MAX_ROUTES:
            key = (verb, OTHER_ROUTE)
        found = _endpoints.get(key)
        if found is None:
            found = _endpoints[key] = Endpoint(
                operation=API_CALL,
                api_type=None,
                read_request=read_api_call_request,
                read_response=read_api_call,
                span_name=f"{key[0]} {key[1]}",
                attributes=((HTTP_METHOD, key[0]), (HTTP_ROUTE, key[1])),
            )
        return found

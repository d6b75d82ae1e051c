"""One traced call from start to end: the span, the metric points, the observers.

The interception layer calls :func:`start` before the SDK call and :meth:`TracedCall.end` exactly
once afterwards (at once, or when a stream ends). Everything here is guarded: an internal error is
logged once and never reaches the user's call.

Three objects: a :class:`CallSite` (one endpoint of one client, built once per client), a
:class:`TracedCall` (one call in flight, holding its site, its :class:`~tracewrap.record.CallRecord`
and its span) and, when observers are registered, the call's public view
:class:`~tracewrap.observers.ObservedCall`. ``TracedCall.end`` reads top to bottom: settle who
counts the usage, redact, end the span with its attributes, emit the content event, record the
metric points, notify the observers.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import weakref
from asyncio import CancelledError
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.semconv._incubating.attributes import openai_attributes as OpenAIAttr
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracewrap.endpoints import Endpoint
from tracewrap.logs import logger, warn_once
from tracewrap.observers import ObservedCall, current_observers
from tracewrap.options import TraceOptions
from tracewrap.record import CallRecord
from tracewrap.telemetry import attributes as attrs_of
from tracewrap.telemetry.content import content_attributes, redact_record
from tracewrap.telemetry.deferred import pending as deferred_ends
from tracewrap.telemetry.deferred import run_deferred

# The registry's own list (add/remove_observer change it in place): read directly on every call.
_OBSERVERS = current_observers()

# Set by tracewrap.integrations.openai_agents once the Agents SDK is imported: given the call's record,
# the context its span nests under (the running agent's span), or None for the current context.
parent_context: Callable[[CallRecord], Any] | None = None


def internal_error(where: str, exc: BaseException) -> None:
    """Instrumentation failed: say so once per place, and let the user's call go on."""
    warn_once(f"internal:{where}", "internal error in %s (the call goes on untraced): %r", where, exc)
    logger.debug("internal error in %s", where, exc_info=exc)


class ClientInfo:
    """Where a client sends its calls (``interception.install.client_info``), read when its call sites
    are built and again once its ``base_url`` has changed (``interception.install.ClientSites``).

    ``provider`` is the name in force: ``wrap(provider=...)`` if given, else the one its host means.
    ``client``: a weak reference to the client, read only to cut its credentials out of a failed
    call's error message (:func:`without_credentials`).
    """

    __slots__ = ("client", "provider", "server_address", "server_port")

    def __init__(
        self,
        provider: str,
        server_address: str | None,
        server_port: int | None,
        client: weakref.ref[Any] | None = None,
    ) -> None:
        self.provider = provider
        self.server_address = server_address
        self.server_port = server_port
        self.client = client


class CallSite:
    """One traced method of one client: what every call through it shares, worked out once.

    Built once per client (when ``wrap(client)`` wraps the method, or on the client's first call to
    the endpoint; again after its ``base_url`` changed), so a call copies the shared attributes
    instead of assembling them again, and finds its endpoint, options and client in one place.
    """

    __slots__ = (
        "client",
        "endpoint",
        "options",
        "provider",
        "server_address",
        "server_port",
        "shared_attributes",
        "span_attributes",
    )

    def __init__(self, endpoint: Endpoint, options: TraceOptions, client: ClientInfo) -> None:
        self.endpoint = endpoint
        self.options = options
        self.provider = client.provider
        self.server_address = client.server_address
        self.server_port = client.server_port
        self.client = client.client
        self.shared_attributes = attrs_of.shared_attributes(self.new_record())
        # a generic call's method and route: on its span only (metrics keep the operation's series)
        self.span_attributes = self.shared_attributes
        if endpoint.attributes:
            self.span_attributes = {**self.shared_attributes, **dict(endpoint.attributes)}

    def new_record(self) -> CallRecord:
        endpoint = self.endpoint
        return CallRecord(
            operation=endpoint.operation,
            api_type=endpoint.api_type,
            provider=self.provider,
            server_address=self.server_address,
            server_port=self.server_port,
        )


# a URL in an error's message (a WebSocket library's InvalidURI / InvalidProxy quotes it whole):
# scheme, then optional userinfo (up to the authority's last "@": a password may hold an unencoded
# one), host and path, then optional query and fragment
_URL = re.compile(r"""([a-zA-Z][a-zA-Z0-9+.-]*://)(?:[^\s/?#'"<>]*@)?([^\s?#'"<>]*)(?:[?#][^\s'"<>]*)?""")


def without_url_secrets(message: str) -> str:
    """``message`` with every URL's userinfo (``user:password@``), query and fragment dropped, as a
    request URL is everywhere else (SECURITY.md): an extra_query signature or a proxy's password."""
    if "://" not in message:
        return message
    return _URL.sub(r"\1\2", message)


# the headers that carry a client's credentials (OpenAI's and Azure's keys, AD tokens, a proxy's),
# and the client attributes that hold its keys: their values are cut out of an error's message
_CREDENTIAL_HEADERS = ("authorization", "api-key", "proxy-authorization")
_CREDENTIAL_ATTRIBUTES = ("api_key", "admin_api_key")
REDACTED_CREDENTIAL = "<redacted credential>"


def without_credentials(message: str, exc: BaseException, client: Any = None) -> str:
    """``message`` without the credentials of the request ``exc`` failed on and of ``client``: a
    compatible server or a proxy may quote the key it refused ("Incorrect API key provided:
    sk-..."). Read for this only, on a failed call: the failed request's credential headers
    (openai 1.x / 2.x errors hold the HTTP request; 3.x adds its key past it) and the client's keys
    and default credential headers."""
    values: list[Any] = []
    for source in (
        lambda: exc.request.headers,  # type: ignore[attr-defined]  # (httpx raises if unset)
        lambda: client.default_headers,
    ):
        try:
            headers = source()
            values += [headers.get(name) for name in _CREDENTIAL_HEADERS]
        except Exception:
            pass
    for name in _CREDENTIAL_ATTRIBUTES:
        try:
            values.append(getattr(client, name, None))
        except Exception:
            pass
    for value in values:
        if not isinstance(value, str):
            continue
        # the whole value, and its token without the scheme ("Bearer sk-...")
        for secret in (value, value.partition(" ")[2].strip()):
            if len(secret) >= 8 and secret in message:
                message = message.replace(secret, REDACTED_CREDENTIAL)
    return message


def is_cancellation(exc: BaseException) -> bool:
    """The caller gave up: asyncio's ``CancelledError``, or trio's ``Cancelled`` (AsyncOpenAI runs on
    trio through anyio: a cancel scope, ``move_on_after``, a failing nursery sibling), read only if
    the program imported trio."""
    if isinstance(exc, CancelledError):
        return True
    trio = sys.modules.get("trio")
    return trio is not None and isinstance(exc, getattr(trio, "Cancelled", ()))


class TracedCall:
    """One call in flight: its site, its record, its span; ended once by :meth:`end`.

    ``observed`` is the view observers get (:class:`tracewrap.observers.ObservedCall`, public API),
    None while no observer is registered.
    """

    __slots__ = (
        "__weakref__",
        "capture_content",
        "context",
        "ended",
        "observed",
        "record",
        "sent",
        "site",
        "span",
        "start_perf",
    )

    def __init__(
        self,
        site: CallSite,
        record: CallRecord,
        span: Any,
        start_perf: float,
        observed: ObservedCall | None,
        capture_content: bool,
    ) -> None:
        self.site = site
        self.record = record
        self.span = span
        self.context = trace.set_span_in_context(span)
        self.start_perf = start_perf
        self.observed = observed
        self.ended = False
        self.sent = False
        self.capture_content = capture_content

    def sending(self) -> None:
        """The SDK is sending the call's request (called from the request layer, in the context it
        sends in): observers with an ``on_send`` hook hear it, once."""
        observed = self.observed
        if observed is None or self.sent:
            return
        self.sent = True
        _tell_observers("on_send", observed)

    def first_chunk(self) -> None:
        """A stream's first chunk arrived (called by its tracker, in the context the stream is read
        in): observers with an ``on_first_chunk`` hook hear it."""
        if self.observed is not None:
            _tell_observers("on_first_chunk", self.observed)

    def read_response(self, response: Any) -> None:
        try:
            self.site.endpoint.read_response(response, self.record, self.capture_content)
            if self.observed is not None:
                self.observed.response = response
        except Exception as exc:
            internal_error("read_response", exc)

    def fail(self, exc: BaseException) -> None:
        record = self.record
        if is_cancellation(exc):  # the caller gave up (task.cancel(), wait_for): not a failure
            record.cancelled = True
            return
        record.error_type = type(exc).__name__
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            record.http_status_code = status
            # a prompt the service's content filter refused (Azure OpenAI: a 400 whose code is
            # "content_filter"): filtered, as an answer cut by the filter is, not only a failed request
            if getattr(exc, "code", None) == "content_filter" and record.finish_reasons is None:
                record.finish_reasons = ("content_filter",)
        try:
            client = self.site.client
            message = without_credentials(without_url_secrets(str(exc)), exc, client and client())
            record.error_message = message[:1000]
        except Exception:
            record.error_message = None

    def end(self, at: float | None = None) -> None:
        """End span, record metrics, tell observers; runs once, whatever calls it twice.

        ``at`` (a ``time.perf_counter()`` reading) ends the call at an earlier moment than now: an
        abandoned stream, ended after the GC found it, ends when it was last used.
        """
        if self.ended:
            return
        self.ended = True
        try:
            now = time.perf_counter()
            end_time_ns = None if at is None else time.time_ns() - int((now - at) * 1e9)
            duration = (now if at is None else at) - self.start_perf
            options = self.site.options
            extras = options.end_extras  # redaction, cost, content: none of them by default
            self._settle()
            if extras and options.redact is not None:
                self._redact()
            cost = self._estimate_cost() if extras and options.estimate_cost else None
            self._end_span(end_time_ns, cost)
            if extras and options.capture_on_event:
                self._emit_content_event()
            self._metric_points(duration, cost)
            if self.observed is not None:
                self._notify_observers(end_time_ns)
        except Exception as exc:
            internal_error("end", exc)

    def _settle(self) -> None:
        """Who counts this response's usage (:mod:`tracewrap.telemetry.counting`), before anything."""
        settle = self.site.endpoint.settle
        if settle is not None:
            try:
                settle(self.record)
            except Exception as exc:
                internal_error("settle", exc)

    def _redact(self) -> None:
        """The user's redaction, once, before the span, the content event or any observer sees it."""
        redact_record(self.record, self.site.options.redact)

    def _estimate_cost(self) -> float | None:
        if not self.record.counted:
            return None
        try:
            return _estimate_cost(self.record)
        except Exception as exc:
            internal_error("end attributes", exc)
            return None

    def _end_span(self, end_time_ns: int | None, cost: float | None) -> None:
        """The span's end attributes and status, then its end (which happens whatever failed)."""
        span = self.span
        try:
            if span.is_recording():
                span.set_attributes(self._span_attributes(cost))
                record = self.record
                if record.error_type is not None:
                    span.set_status(Status(StatusCode.ERROR, record.error_message))
        except Exception as exc:
            internal_error("end attributes", exc)
        span.end(end_time_ns)

    def _span_attributes(self, cost: float | None) -> dict[str, Any]:
        record = self.record
        attributes = attrs_of.end_attributes(record)
        if cost is not None:
            attributes[attrs_of.COST_ESTIMATE] = cost
        options = self.site.options
        if options.end_extras and options.capture_on_span:
            attributes.update(content_attributes(record, options.content_max_length, None))
        return attributes

    def _emit_content_event(self) -> None:
        try:
            from opentelemetry._logs import LogRecord, get_logger

            from tracewrap.telemetry.content import CONTENT_EVENT

            body = content_attributes(self.record, self.site.options.content_max_length, None)  # redacted
            if not body:
                return
            get_logger("tracewrap").emit(
                LogRecord(event_name=CONTENT_EVENT, attributes=body, context=self.context)
            )
        except Exception as exc:
            internal_error("content event", exc)

    def _metric_points(self, duration: float, cost: float | None) -> None:
        """The standard histograms, synchronous, with attribute dicts built once per attribute set
        (:class:`tracewrap.telemetry.aggregated.Entry`); tracewrap's own counters are sums in that
        entry, added first and read by observable counters at collection (``CounterTable.add``)."""
        instruments = self.site.options.instruments
        if not instruments.live and not instruments.check_live():
            return  # no meter provider (or a no-op one): every measurement would be dropped
        record = self.record
        shared = self.site.shared_attributes
        entry = instruments.table.add(record, shared, cost)  # tracewrap's own counters
        if entry.overflow:  # past the table's bound: the histograms keep this call's own attributes
            metric_attrs = attrs_of.metric_attributes(record, shared)
            input_attrs = {**metric_attrs, GenAI.GEN_AI_TOKEN_TYPE: "input"}
            output_attrs = {**metric_attrs, GenAI.GEN_AI_TOKEN_TYPE: "output"}
        else:
            metric_attrs = entry.attrs
            input_attrs = entry.input_attrs
            output_attrs = entry.output_attrs
        # recorded in the call's context (its span's): a sampled span becomes the points' exemplar,
        # so a backend can go from a latency point to the trace (cost: +11 to +13 µs per call in
        # paired benchmarks/ab.py, the SDK's exemplar reservoir)
        context = self.context
        instruments.duration.record(duration, metric_attrs, context)
        if not record.counted:  # counted by another call (telemetry.counting): its duration only
            return
        usage = record.usage
        if usage.input_tokens is not None:
            instruments.token_usage.record(usage.input_tokens, input_attrs, context)
        if usage.output_tokens is not None:
            instruments.token_usage.record(usage.output_tokens, output_attrs, context)
        if record.time_to_first_chunk is not None:
            instruments.time_to_first_chunk.record(record.time_to_first_chunk, metric_attrs, context)
        if record.time_per_output_chunk is not None:
            instruments.time_per_output_chunk.record(record.time_per_output_chunk, metric_attrs, context)

    def _notify_observers(self, end_time_ns: int | None) -> None:
        observed = self.observed
        if observed is None:
            return
        observed.end_time_ns = end_time_ns or time.time_ns()
        for observer in _OBSERVERS:
            try:
                observer.on_end(observed)
            except Exception as exc:
                internal_error(f"observer {type(observer).__name__}.on_end", exc)


def _tell_observers(hook: str, observed: ObservedCall) -> None:
    """Call the optional ``hook`` of each observer that has it; an observer's error stays its own."""
    for observer in _OBSERVERS:
        method = getattr(observer, hook, None)
        if method is None:
            continue
        try:
            method(observed)
        except Exception as exc:
            internal_error(f"observer {type(observer).__name__}.{hook}", exc)


_export_checked = False  # the first call that records into the global providers has looked
# Calls that start while the first one sets export up wait for it: their spans must start on the
# providers it installs, not on the API's placeholder (no span at all). Re-entrant: a call the set-up
# itself makes goes on without waiting for itself.
_export_lock = threading.RLock()
_setting_up = False


def _check_export() -> None:
    global _export_checked, _setting_up
    with _export_lock:
        if _export_checked or _setting_up:
            return
        _setting_up = True
        try:
            from tracewrap.exporting.first_call import set_up_export

            set_up_export()
        finally:
            _setting_up = False
            _export_checked = True


def _new_export_lock_in_child() -> None:
    # a fork taken while another thread held the lock must not leave the child's first call waiting
    global _export_lock, _setting_up
    _export_lock = threading.RLock()
    _setting_up = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_export_lock_in_child)


def check_export_once(options: TraceOptions) -> None:
    """For spans that start before any model call (an agent run's): export set up first, as a call
    would; a span started on the API's placeholder provider would record nothing."""
    if not _export_checked and options.tracer_provider is None:
        _check_export()


def start(site: CallSite, kwargs: Mapping[str, Any], is_async: bool = False) -> TracedCall | None:
    if deferred_ends:  # ends the GC asked for since the last call: a safe point to carry them out
        run_deferred()
    if not _export_checked and site.options.tracer_provider is None:
        _check_export()  # once per process: export from the environment, or say why there is none
    try:
        endpoint = site.endpoint
        options = site.options
        record = site.new_record()
        endpoint.read_request(kwargs, record)
        observers = _OBSERVERS
        capture = options.capture_enabled or (bool(observers) and any(o.wants_content for o in observers))
        if capture:
            _read_prompt(endpoint, kwargs, record)
        parent = parent_context(record) if parent_context is not None else None
        span = options.instruments.tracer.start_span(
            endpoint.span_name or attrs_of.span_name(record),
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=attrs_of.start_attributes(record, site.span_attributes),
        )
        observed = None
        if observers:
            observed = ObservedCall(
                record=record,
                span=span,
                kwargs=kwargs,
                start_time_ns=time.time_ns(),
                redact=options.redact,
                is_async=is_async,
            )
            for observer in observers:
                try:
                    observer.on_start(observed)
                except Exception as exc:
                    internal_error(f"observer {type(observer).__name__}.on_start", exc)
        started = time.perf_counter()
        return TracedCall(site, record, span, started, observed, capture)
    except Exception as exc:
        internal_error("start", exc)
        return None


def _read_prompt(endpoint: Endpoint, kwargs: Mapping[str, Any], record: CallRecord) -> None:
    try:
        if endpoint.read_input is not None:
            record.input_messages = endpoint.read_input(kwargs)
        if endpoint.read_instructions is not None:
            record.system_instructions = endpoint.read_instructions(kwargs)
    except Exception as exc:
        internal_error("read_prompt", exc)


def _estimate_cost(record: CallRecord) -> float | None:
    try:
        from tracewrap.cost import estimate_cost_usd
    except ImportError:
        return None
    model = record.response_model or record.request_model
    if model is None:
        return None
    usage = record.usage
    tier = record.service_tier or record.request_attributes.get(OpenAIAttr.OPENAI_REQUEST_SERVICE_TIER)
    return estimate_cost_usd(
        record.provider,
        model,
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        service_tier=tier if isinstance(tier, str) else None,
        input_audio_tokens=usage.input_audio_tokens,
        cache_audio_read_tokens=usage.cache_audio_read_tokens,
        output_audio_tokens=usage.output_audio_tokens,
        input_image_tokens=usage.input_image_tokens,
        output_image_tokens=usage.output_image_tokens,
    )

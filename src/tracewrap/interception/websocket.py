"""Responses WebSocket mode (``client.responses.connect()``, openai 3.x and late 2.x): one span per response.

A connection carries many responses. Each ``response.create`` the application sends (through
``connection.response.create(...)``, ``connection.send({...})``, ``connection.send_raw(json)`` or
the manager's ``send`` before the socket opens) starts one CLIENT span, with the request read as for
``responses.create``; the events read back are matched to it and folded by the same accumulator an
SSE Responses stream uses, and its terminal event (``response.completed`` / ``.incomplete`` /
``.failed``, or an ``error`` event) ends it. So the span carries exactly what an SSE stream's
carries: request parameters, response id and model, usage, finish reason, status, time to first
event, stream outcome, the metrics, content under the same rules, and the observers' runs.

Matching, per lane (``stream_id`` on ``response.create``, echoed on every event; no ``stream_id``
is the default lane):

* ``response.created`` gives the lane's oldest create without a response its response id;
* an event without a response id (deltas, items) belongs to the lane's latest created response;
  a terminal event is matched by its ``response.id``;
* an ``error`` event carries no response id: one with a ``sequence_number`` (emitted by a response
  stream) belongs to the lane's running response; any other (a rejected create) to the lane's
  oldest create without a response yet, else to the running one. Its outcome is ``error``.

The connection ending first ends every response still open on it: ``connection_closed`` with the
``websockets`` exception's type as ``error.type`` when the socket closed under a read (also before
the SDK reconnects: the server does not resume those responses on a new socket), ``closed_early``
when the application called ``close()``. A connection dropped without either is ended as
``abandoned`` from the deferred queue (docs/gc-safety.md: the GC-side code only queues).

The connection's lifetime is not a span: a connection may live for hours and carry thousands of
turns, and a parent span ending only at ``close()`` would hold every turn's trace open in backends
until then. Each turn's span nests under whatever span is current when its ``response.create`` is
sent (an agent step, a request handler), as an HTTP call would.

Patched at class level (``ResponsesConnection`` / ``AsyncResponsesConnection`` and their
managers, and the realtime ones: :mod:`.realtime`), once, by ``wrap(openai)`` or ``wrap(client)``;
a connection is traced when its client is traced with the path ``responses.connect`` (or
``realtime.connect``; both are in the default set): that client's ``wrap(client)`` options first,
else the process-wide ones. Objects stay the SDK's own; per connection, one private entry in its
``__dict__``.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from tracewrap.auto.import_hooks import when_imported
from tracewrap.interception.streams import ABANDONED, CLOSED_EARLY, COMPLETED, ERROR, StreamTracker
from tracewrap.normalize.responses import TERMINAL_EVENTS
from tracewrap.normalize.values import field
from tracewrap.telemetry.deferred import collecting, defer, watch_until_end
from tracewrap.telemetry.lifecycle import CallSite, internal_error, start

CONNECTION_CLOSED = "connection_closed"  # the socket closed before the response's terminal event
_KEY = "_tracewrap_ws"  # in a connection's (or a manager's, until it opens) __dict__
_CREATE = "response.create"
_UNSET: tuple[type, ...] = ()  # the SDK's Omit / NotGiven, set when the connection classes are patched


def decode(payload: Any) -> dict[str, Any] | None:
    """A message the application sends, as a dict (a param dict, JSON text or an SDK model)."""
    if isinstance(payload, Mapping):
        # connection.response.create(...) passes its unset parameters as the SDK's ``omit``
        return {k: v for k, v in payload.items() if not isinstance(v, _UNSET)}
    if isinstance(payload, (str, bytes, bytearray)):
        try:
            decoded = json.loads(payload)
        except (ValueError, RecursionError):
            return None
        return decoded if isinstance(decoded, dict) else None
    to_dict = getattr(payload, "to_dict", None)  # an SDK model (ResponseCreateEvent)
    if to_dict is None:
        return None
    decoded = to_dict()
    return decoded if isinstance(decoded, dict) else None


class _Turn(StreamTracker):
    """One response on a connection: a stream tracker that also knows its lane and id."""

    __slots__ = ("event_id", "lane", "response_id")

    def __init__(self, call: Any, lane: Any) -> None:
        super().__init__(call)
        self.lane = lane
        self.response_id: str | None = None
        self.event_id: Any = None  # the create's own event_id, if it set one (realtime errors name it)


class ConnectionTraces:
    """The open responses of one connection. Holds no reference to the connection itself."""

    __slots__ = ("__weakref__", "active", "by_id", "lock", "pending", "reading", "site")

    def __init__(self, site: CallSite) -> None:
        self.site = site
        self.pending: dict[Any, deque[_Turn]] = {}  # lane -> creates sent, no response.created yet
        self.active: dict[Any, _Turn] = {}  # lane -> the response its events without an id belong to
        self.by_id: dict[str, _Turn] = {}
        self.reading = False  # inside recv(): its recv_bytes() is the same event, seen once
        # one thread may send while another reads: the maps change under this lock (never taken
        # from GC-run code; an event for a running response only reads them)
        self.lock = threading.Lock()

    def sent(self, payload: Any) -> _Turn | None:
        """A message the application sends: a ``response.create`` starts a span."""
        kwargs = decode(payload)
        if kwargs is None or kwargs.get("type") != _CREATE:
            return None
        return self.begin(kwargs, kwargs.get("stream_id"))

    def begin(self, kwargs: Mapping[str, Any], lane: Any, waiting: bool = True) -> _Turn | None:
        """Start one response's span; ``waiting``: it waits for its ``response.created``."""
        call = start(self.site, kwargs)
        if call is None:
            return None
        try:
            call.record.stream = True  # implicit over a WebSocket
            turn = _Turn(call, lane)
            if waiting:
                with self.lock:
                    queue = self.pending.get(lane)
                    if queue is None:
                        queue = self.pending[lane] = deque()
                    queue.append(turn)
            return turn
        except Exception as exc:
            internal_error("websocket send", exc)
            call.end()
            return None

    def unsent(self, turn: _Turn | None, exc: BaseException) -> None:
        """The send raised: that create never left, its span ends with the error."""
        if turn is None:
            return
        self.forget(turn)
        turn.end(ERROR, exc)

    def received(self, event: Any) -> None:
        """One event read by the application (an SDK model, or a dict from raw bytes)."""
        try:
            kind = event.type
        except Exception:
            kind = field(event, "type")
        if kind.__class__ is not str:
            return  # unknown or malformed: nothing to match
        try:
            lane = event.stream_id
        except Exception:
            lane = field(event, "stream_id")
        if kind == "response.created":
            response_id = field(field(event, "response"), "id")
            with self.lock:
                queue = self.pending.get(lane)
                if not queue:
                    return  # a response no create of ours asked for (a steering successor)
                turn = queue.popleft()
                if not queue:
                    del self.pending[lane]
                if response_id.__class__ is str:
                    turn.response_id = response_id
                    self.by_id[response_id] = turn
                self.active[lane] = turn
        elif kind in TERMINAL_EVENTS:
            turn = self.by_id.get(field(field(event, "response"), "id")) or self.active.get(lane)
        elif kind == "error":
            with self.lock:
                turn = self._error_owner(event, lane)
        else:
            turn = self.active.get(lane)
        if turn is not None:
            self.fold(
                turn, event, COMPLETED if kind in TERMINAL_EVENTS else ERROR if kind == "error" else None
            )

    def fold(self, turn: _Turn, event: Any, ending: str | None) -> None:
        """One event of ``turn``: timing, the accumulator, and its end when ``ending`` is an outcome."""
        now = time.perf_counter()
        count = turn.count = turn.count + 1
        if count == 1:
            turn.first = now
        turn.last = now
        accumulator = turn.accumulator
        if accumulator is not None:
            try:
                accumulator.add(event)
            except Exception as exc:
                turn.drop_accumulator(exc)
        if ending is not None:
            self.forget(turn)
            self.ending(turn)
            turn.end(ending)

    def ending(self, turn: _Turn) -> None:
        """Before a response's span ends (the realtime traces set the session's model here)."""

    def _error_owner(self, event: Any, lane: Any) -> _Turn | None:
        running = self.active.get(lane)
        if running is not None and field(event, "sequence_number") is not None:
            return running
        queue = self.pending.get(lane)
        if queue:
            return queue[0]
        return running

    def forget(self, turn: _Turn) -> None:
        lane = turn.lane
        with self.lock:
            if self.active.get(lane) is turn:
                del self.active[lane]
            if turn.response_id is not None:
                self.by_id.pop(turn.response_id, None)
            queue = self.pending.get(lane)
            if queue and turn in queue:
                queue.remove(turn)
            if queue is not None and not queue:
                del self.pending[lane]

    def _take_all(self) -> list[_Turn]:
        """Every response still open, the maps emptied."""
        turns: dict[int, _Turn] = {}
        with self.lock:
            for queue in self.pending.values():
                for turn in queue:
                    turns[id(turn)] = turn
            for turn in self.active.values():
                turns[id(turn)] = turn
            for turn in self.by_id.values():
                turns[id(turn)] = turn
            self.pending.clear()
            self.active.clear()
            self.by_id.clear()
        return list(turns.values())

    def closed(self, outcome: str, exc: BaseException | None = None) -> None:
        """The connection ended: every response still open ends with it."""
        for turn in self._take_all():
            turn.end(outcome, exc)

    def dropped(self) -> None:
        """Runs inside the garbage collector (or at exit): the connection was freed; only queue."""
        if self.pending or self.active or self.by_id:
            defer(self.abandon)

    def abandon(self) -> None:
        """Run from the deferred queue (a safe point): the connection was dropped with responses open."""
        for turn in self._take_all():
            if not turn.call.ended:
                turn.end(ABANDONED, at=turn.last)


def _attach(connection: Any, traces: ConnectionTraces) -> None:
    connection.__dict__[_KEY] = traces
    watch_until_end(connection, traces.dropped)


def _traces(obj: Any) -> ConnectionTraces | None:
    try:
        return obj.__dict__.get(_KEY)
    except AttributeError:
        return None


def site_for(client: Any, path: str) -> CallSite | None:
    """The call site for ``client``'s responses on a connection of ``path`` (``responses.connect``,
    ``realtime.connect``), or None when the client is not traced for it."""
    from tracewrap.endpoints import CONNECT_PATHS
    from tracewrap.interception import sdk_patch
    from tracewrap.interception.install import client_info, installation_of

    endpoint = CONNECT_PATHS[path]
    installation = installation_of(client)
    if installation is not None:  # wrap(client): that client's options win
        if path not in installation.paths:
            return None
        return CallSite(endpoint, installation.options, client_info(client, installation.options))
    process_wide = sdk_patch.current()
    if process_wide is None or path not in process_wide.paths:
        return None
    return sdk_patch.client_site(client, endpoint)


# --------------------------------------------------------------------------- the patches

# builds the traces of a manager's connection from the manager (None: not traced)
TracesFactory = Callable[[Any], "ConnectionTraces | None"]


def _opened(manager: Any, connection: Any, make: TracesFactory) -> None:
    """The manager opened ``connection``: the creates queued on the manager move to it."""
    traces = manager.__dict__.pop(_KEY, None)
    if traces is None:
        traces = make(manager)
        if traces is None:
            return
    _attach(connection, traces)


def _not_opened(manager: Any, exc: BaseException) -> None:
    traces = manager.__dict__.pop(_KEY, None)
    if traces is not None:
        traces.closed(ERROR, exc)


def _manager_traces(manager: Any, make: TracesFactory) -> ConnectionTraces | None:
    traces = _traces(manager)
    if traces is None:
        traces = make(manager)
        if traces is not None:
            manager.__dict__[_KEY] = traces
    return traces


def _entered(manager: Any, connection: Any, failure: BaseException | None, make: TracesFactory) -> None:
    """After a manager's ``__enter__`` / ``__aenter__``: its queued creates move to the connection,
    or end with the failure; never raises into the user's ``with``."""
    try:
        if failure is not None:
            _not_opened(manager, failure)
        else:
            _opened(manager, connection, make)
    except Exception as error:
        internal_error("websocket enter", error)


def _traced_manager_send(original: Any, make: TracesFactory) -> Any:
    """A manager's ``send`` (synchronous on both managers): a create queued before the connection opens."""

    @functools.wraps(original)
    def manager_send(self: Any, event: Any) -> None:
        try:
            traces = _manager_traces(self, make)
        except Exception as error:
            internal_error("websocket send", error)
            traces = None
        if traces is None:
            original(self, event)
        else:
            _send_traced(traces, original, self, event)

    return manager_send


def _sending(traces: Any, event: Any) -> Any:
    """The turn a send starts (None when reading the event failed: it is sent untraced)."""
    try:
        return traces.sent(event)
    except Exception as error:
        internal_error("websocket send", error)
        return None


def _send_traced(traces: Any, original: Any, self: Any, event: Any) -> None:
    """A synchronous send through ``traces``: the turn it starts is dropped again if it fails."""
    turn = _sending(traces, event)
    try:
        original(self, event)
    except BaseException as exc:
        traces.unsent(turn, exc)
        raise


def _patch_sync(
    connection_cls: type,
    manager_cls: type,
    make: TracesFactory,
    closed_errors: tuple[type[BaseException], ...],
) -> list[tuple[type, str, Any]]:
    original_enter = manager_cls.__enter__  # type: ignore[attr-defined]
    original_manager_send = manager_cls.send  # type: ignore[attr-defined]
    original_send = connection_cls.send  # type: ignore[attr-defined]
    original_send_raw = connection_cls.send_raw  # type: ignore[attr-defined]
    original_recv = connection_cls.recv  # type: ignore[attr-defined]
    original_recv_bytes = connection_cls.recv_bytes  # type: ignore[attr-defined]
    original_close = connection_cls.close  # type: ignore[attr-defined]

    @functools.wraps(original_enter)
    def enter(self: Any) -> Any:
        try:
            connection = original_enter(self)
        except BaseException as exc:
            _entered(self, None, exc, make)
            raise
        _entered(self, connection, None, make)
        return connection

    manager_send = _traced_manager_send(original_manager_send, make)

    def sender(original: Any) -> Any:
        @functools.wraps(original)
        def send(self: Any, event: Any) -> None:
            traces = _traces(self)
            if traces is None:
                return original(self, event)
            _send_traced(traces, original, self, event)

        return send

    @functools.wraps(original_recv)
    def recv(self: Any) -> Any:
        traces = _traces(self)
        if traces is None:
            return original_recv(self)
        traces.reading = True
        try:
            event = original_recv(self)
        except closed_errors as exc:
            traces.closed(CONNECTION_CLOSED, exc)
            raise
        finally:
            traces.reading = False
        try:
            traces.received(event)
        except Exception as error:
            internal_error("websocket event", error)
        return event

    @functools.wraps(original_recv_bytes)
    def recv_bytes(self: Any) -> Any:
        traces = _traces(self)
        if traces is None:
            return original_recv_bytes(self)
        try:
            message = original_recv_bytes(self)
        except closed_errors as exc:
            if not traces.reading:
                traces.closed(CONNECTION_CLOSED, exc)
            raise
        if not traces.reading:
            _received_raw(traces, message)
        return message

    @functools.wraps(original_close)
    def close(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            original_close(self, *args, **kwargs)
        finally:
            traces = _traces(self)
            if traces is not None:
                traces.closed(CLOSED_EARLY)

    return _apply(
        {
            (manager_cls, "__enter__"): enter,
            (manager_cls, "enter"): enter,
            (manager_cls, "send"): manager_send,
            (connection_cls, "send"): sender(original_send),
            (connection_cls, "send_raw"): sender(original_send_raw),
            (connection_cls, "recv"): recv,
            (connection_cls, "recv_bytes"): recv_bytes,
            (connection_cls, "close"): close,
        }
    )


def _patch_async(
    connection_cls: type,
    manager_cls: type,
    make: TracesFactory,
    closed_errors: tuple[type[BaseException], ...],
) -> list[tuple[type, str, Any]]:
    original_enter = manager_cls.__aenter__  # type: ignore[attr-defined]
    original_manager_send = manager_cls.send  # type: ignore[attr-defined]
    original_send = connection_cls.send  # type: ignore[attr-defined]
    original_send_raw = connection_cls.send_raw  # type: ignore[attr-defined]
    original_recv = connection_cls.recv  # type: ignore[attr-defined]
    original_recv_bytes = connection_cls.recv_bytes  # type: ignore[attr-defined]
    original_close = connection_cls.close  # type: ignore[attr-defined]

    @functools.wraps(original_enter)
    async def enter(self: Any) -> Any:
        try:
            connection = await original_enter(self)
        except BaseException as exc:
            if collecting():  # closed unfinished by the GC (GeneratorExit): only queue the ends
                defer(functools.partial(_entered, self, None, exc, make))
            else:
                _entered(self, None, exc, make)
            raise
        _entered(self, connection, None, make)
        return connection

    manager_send = _traced_manager_send(original_manager_send, make)  # synchronous in both

    def sender(original: Any) -> Any:
        @functools.wraps(original)
        async def send(self: Any, event: Any) -> None:
            traces = _traces(self)
            if traces is None:
                return await original(self, event)
            turn = _sending(traces, event)
            try:
                await original(self, event)
            except GeneratorExit:  # closed unfinished (collected): the connection's watch ends the
                raise  # turn abandoned, outside the GC
            except BaseException as exc:
                traces.unsent(turn, exc)
                raise

        return send

    @functools.wraps(original_recv)
    async def recv(self: Any) -> Any:
        traces = _traces(self)
        if traces is None:
            return await original_recv(self)
        traces.reading = True
        try:
            event = await original_recv(self)
        except closed_errors as exc:
            traces.closed(CONNECTION_CLOSED, exc)
            raise
        finally:
            traces.reading = False
        try:
            traces.received(event)
        except Exception as error:
            internal_error("websocket event", error)
        return event

    @functools.wraps(original_recv_bytes)
    async def recv_bytes(self: Any) -> Any:
        traces = _traces(self)
        if traces is None:
            return await original_recv_bytes(self)
        try:
            message = await original_recv_bytes(self)
        except closed_errors as exc:
            if not traces.reading:
                traces.closed(CONNECTION_CLOSED, exc)
            raise
        if not traces.reading:
            _received_raw(traces, message)
        return message

    @functools.wraps(original_close)
    async def close(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            await original_close(self, *args, **kwargs)
        finally:
            traces = _traces(self)
            if traces is not None:
                traces.closed(CLOSED_EARLY)

    return _apply(
        {
            (manager_cls, "__aenter__"): enter,
            (manager_cls, "enter"): enter,
            (manager_cls, "send"): manager_send,
            (connection_cls, "send"): sender(original_send),
            (connection_cls, "send_raw"): sender(original_send_raw),
            (connection_cls, "recv"): recv,
            (connection_cls, "recv_bytes"): recv_bytes,
            (connection_cls, "close"): close,
        }
    )


def _received_raw(traces: ConnectionTraces, message: Any) -> None:
    """``recv_bytes()`` read by the application itself: parse it; a malformed frame is skipped."""
    try:
        event = json.loads(message)
    except (ValueError, TypeError, RecursionError):
        return
    if not isinstance(event, dict):
        return
    try:
        traces.received(event)
    except Exception as error:
        internal_error("websocket event", error)


def _apply(patches: dict[tuple[type, str], Any]) -> list[tuple[type, str, Any]]:
    done: list[tuple[type, str, Any]] = []
    for (cls, name), replacement in patches.items():
        done.append((cls, name, vars(cls).get(name, _INHERITED)))
        setattr(cls, name, replacement)
    return done


_INHERITED = object()  # the class did not define the name itself: restoring deletes ours
_patched: list[tuple[type, str, Any]] | None = None


def _responses_traces(manager: Any) -> ConnectionTraces | None:
    site = site_for(manager.__dict__.get(f"_{type(manager).__name__}__client"), "responses.connect")
    return None if site is None else ConnectionTraces(site)


def _realtime_traces(manager: Any) -> ConnectionTraces | None:
    from tracewrap.interception.realtime import RealtimeTraces

    attributes = manager.__dict__
    prefix = f"_{type(manager).__name__}__"
    site = site_for(attributes.get(prefix + "client"), "realtime.connect")
    if site is None:
        return None
    model = attributes.get(prefix + "model")
    return RealtimeTraces(site, model if isinstance(model, str) else None)


Kinds = list[tuple[type, type, TracesFactory, bool]]


def _responses_kinds(responses: ModuleType) -> Kinds:
    """(connection class, manager class, traces factory, is async) of Responses WebSocket mode;
    none before openai 3.x (late 2.x)."""
    if not hasattr(responses, "ResponsesConnection"):
        return []
    return [
        (responses.ResponsesConnection, responses.ResponsesConnectionManager, _responses_traces, False),
        (
            responses.AsyncResponsesConnection,
            responses.AsyncResponsesConnectionManager,
            _responses_traces,
            True,
        ),
    ]


def _realtime_kinds(realtime: ModuleType) -> Kinds:
    """The same for ``client.realtime.connect()``: the realtime resource exists since 1.x (beta) /
    2.x; traced where it runs on the same connection base as Responses WebSocket mode (3.x)."""
    if not hasattr(realtime, "RealtimeConnection") or not hasattr(realtime.RealtimeConnection, "send_raw"):
        return []
    return [
        (realtime.RealtimeConnection, realtime.RealtimeConnectionManager, _realtime_traces, False),
        (realtime.AsyncRealtimeConnection, realtime.AsyncRealtimeConnectionManager, _realtime_traces, True),
    ]


# the modules defining the connection classes, and their kinds
_KINDS_OF: dict[str, Callable[[ModuleType], Kinds]] = {
    "openai.resources.responses.responses": _responses_kinds,
    "openai.resources.realtime.realtime": _realtime_kinds,
}


def install() -> None:
    """Patch the connection classes once per process; a no-op for an SDK without ``connect()``.

    The patches stay once installed and are inert for clients that are not traced (no entry is
    made for their connections, and every wrapper then passes straight through). A module's classes
    are patched when the SDK imports it (a client's first ``client.responses`` / ``client.realtime``),
    at once if it already has: the realtime module and its types take ~60 ms to import, which a
    program that never opens a realtime connection should not pay at ``wrap()`` or at start-up.
    """
    global _patched
    if _patched is not None:
        return
    _patched = []
    for name in _KINDS_OF:  # (a hook still waiting from an earlier install is not added twice)
        when_imported(name, _patch_module)


def _patch_module(module: ModuleType) -> None:
    global _UNSET
    try:
        kinds = _KINDS_OF[module.__name__](module)
        patched = _patched
        if patched is None or not kinds or any(cls is kinds[0][0] for cls, _, _ in patched):
            return  # uninstalled since the hook was registered, no connect() here, or patched already
        from openai import NotGiven, Omit

        _UNSET = (Omit, NotGiven)
        try:
            from websockets.exceptions import ConnectionClosed

            closed_errors: tuple[type[BaseException], ...] = (ConnectionClosed,)
        except ImportError:  # the SDK's realtime extra is missing: connect() cannot open anything
            closed_errors = ()
        for connection_cls, manager_cls, make, is_async in kinds:
            patch = _patch_async if is_async else _patch_sync
            patched += patch(connection_cls, manager_cls, make, closed_errors)
    except Exception as exc:
        internal_error("websocket install", exc)


def uninstall() -> None:
    """Put the SDK's methods back (tests)."""
    global _patched
    patched, _patched = _patched, None
    for cls, name, original in reversed(patched or []):
        if original is _INHERITED:
            delattr(cls, name)
        else:
            setattr(cls, name, original)

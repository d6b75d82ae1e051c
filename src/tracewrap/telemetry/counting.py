"""Which call counts a Responses response's usage, cost and finish: exactly one.

* A ``create`` (``chat`` operation) counts what it saw, as every other call does; when it ends
  with the response still ``queued`` / ``in_progress`` (``background=True``, or a background
  stream left, cut or cancelled before its end) nothing is known yet: its id goes into a bounded
  memory of pending background responses and the create counts nothing.
* A ``retrieve`` (``fetch_response``, also a resumed ``responses.stream(response_id=...)``) counts
  only when it is the first call in this process to see a pending id terminal (``completed``,
  ``incomplete``, ``failed``, ``cancelled``); the id leaves the memory at that moment, under a
  lock, so two threads polling the same id count it once. Any other fetch (a response already
  counted, still running, or created by another process) counts nothing and its span carries no
  usage attributes, so a backend summing span attributes does not count twice either.
* A fetch that succeeded is not an error, whatever the response's status (``failed`` is recorded
  as ``openai.response.status`` and the finish reason ``error``, not as ``error.type``).
* ``responses.cancel`` answers with the response: it is read as a fetch (``cancel_response``), so a
  background response cancelled and never retrieved is counted by its cancel.
* A fetch's metric points carry a model so dashboards grouping by ``gen_ai.request.model`` get no
  empty-model series: the model the create in this process asked for when the id is remembered,
  else the model the fetched response reports. A fetch that failed before any response (a 404)
  of an id this process did not create has no model to carry.

Across processes nothing is shared: usage is counted by the process that created the response,
when it sees it finish. A response created in one process and polled only from another is
traced there (fetch spans, durations) but its usage is counted nowhere.
"""

from __future__ import annotations

from collections import OrderedDict

from tracewrap.fork_safe import module_lock
from tracewrap.record import CallRecord, Usage

TERMINAL = frozenset({"completed", "incomplete", "failed", "cancelled"})
PENDING = frozenset({"queued", "in_progress"})
BACKGROUND = "openai.request.background"  # the request attribute, set when the call passed it
MAX_PENDING = 10_000  # oldest forgotten first: a response polled after that many others is not counted

_pending: OrderedDict[str, str | None] = OrderedDict()  # response id -> the create's request model
_lock = module_lock(globals(), "_lock")


def _remember(response_id: str, model: str | None) -> None:
    with _lock:
        _pending[response_id] = model
        _pending.move_to_end(response_id)
        while len(_pending) > MAX_PENDING:
            _pending.popitem(last=False)


def _take(response_id: str) -> tuple[bool, str | None]:
    """Remove ``response_id`` from the memory: (whether it was pending, the create's model)."""
    with _lock:
        if response_id in _pending:
            return True, _pending.pop(response_id)
    return False, None


def _peek(response_id: str) -> str | None:
    with _lock:
        return _pending.get(response_id)


def pending_count() -> int:
    with _lock:
        return len(_pending)


def _uncount(record: CallRecord) -> None:
    record.counted = False
    record.usage = Usage()  # absent on the span and in the metrics


def after_create(record: CallRecord) -> None:
    """A Responses create ended: remember it if its response is still running.

    Also when its stream failed or was cancelled after the response started: a background response
    goes on without the connection (that is what background mode and resuming are for), so the
    retrieve or resumed stream that sees it finish counts it. (An ``error`` event leaves no status.)
    """
    if record.status in PENDING and record.response_id and record.request_attributes.get(BACKGROUND) is True:
        _remember(record.response_id, record.request_model)
        _uncount(record)


def after_fetch(record: CallRecord) -> None:
    """A retrieve ended: count it only if it is the first to see a pending id terminal."""
    status = record.status
    if status == "failed" and (record.http_status_code or 200) < 400:
        # the fetch succeeded; the response it fetched had failed: that is its status, not our error
        record.error_type = record.error_message = None
    response_id = record.response_id
    model = None
    if response_id and status in TERMINAL:
        counted, model = _take(response_id)
        if not counted:
            _uncount(record)
    else:
        if response_id:
            model = _peek(response_id)
        _uncount(record)
    if record.request_model is None:  # for the metric points only: the span started without one
        record.request_model = model or record.response_model

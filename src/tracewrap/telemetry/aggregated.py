"""tracewrap's own counters, summed in process and reported when the metrics are collected.

``tracewrap.client.token.usage``, ``tracewrap.client.finishes`` and ``tracewrap.client.cost.usd``
used to be synchronous counters: each call made six or seven SDK measurements (an attribute dict
built, copied, hashed and locked for each). Here a call finds its :class:`Entry` (one per call site
and model: operation, provider, API type, server, request and response model, error type) with one
dict lookup and adds plain numbers to it under one lock. Observable counters read the sums at
collection time (:meth:`CounterTable.observe_tokens` and the two others). The points exported are
the same as before: the same names, units, attribute sets and sums
(``tests/core/test_aggregated_counters.py`` compares them with the synchronous counters).

* Cumulative sums: an observable counter reports totals, and the SDK turns them into deltas for a
  reader that asks for delta temporality.
* Bounded: at most :data:`MAX_ENTRIES` entries per meter provider (so at most 4 x 500 = 2,000
  token attribute sets, the SDK's own default cardinality limit). A call with a new attribute set
  past the bound is summed into one overflow entry, reported under ``{"otel.metric.overflow":
  true}`` (one point per counter, all token types together) as the SDK does past its limit; its
  histogram points keep their own attributes (the SDK's limit applies to those).
* One table per meter provider, whichever ``Instruments`` (tracer provider, options) record into it:
  its observable counters are registered once, on the provider's meter (the SDK keeps the first
  registration of a name and ignores a second one's callbacks). Nothing is summed while no meter
  provider is set (the API's placeholder would drop the measurements), as before.
* A fork child starts from empty tables (``os.register_at_fork``): its points are its own calls,
  not its parent's totals again. A delta reader inherited across the fork computes the child's
  first delta against the parent's last export (it can be negative): forked workers should set up
  their own meter provider, as for any OpenTelemetry SDK state copied by a fork.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GenAI
from opentelemetry.semconv._incubating.attributes import openai_attributes as OpenAIAttr

from tracewrap.record import AttributeValue, CallRecord, main_reason
from tracewrap.telemetry.attributes import metric_attributes

MAX_ENTRIES = 500
OVERFLOW_ATTRIBUTES: dict[str, AttributeValue] = {"otel.metric.overflow": True}
FINISH_REASON = "tracewrap.finish_reason"  # attributes.FINISH_REASON
SERVICE_TIER = OpenAIAttr.OPENAI_RESPONSE_SERVICE_TIER  # the tier a cost was billed at: cost only


class Entry:
    """The sums of one attribute set, and that set's attribute dicts, built once.

    ``attrs`` / ``input_attrs`` / ``output_attrs`` are handed to the standard histograms too (the
    SDK copies what it keeps): built once per entry instead of once per call. A sum stays None until
    a call reports it, so what no response reported is absent, not 0.
    """

    __slots__ = (
        "attrs",
        "cache_read",
        "cost_attrs",
        "costs",
        "finish_attrs",
        "finishes",
        "input",
        "input_attrs",
        "output",
        "output_attrs",
        "overflow",
        "reasoning",
    )

    def __init__(self, attrs: dict[str, AttributeValue], overflow: bool = False) -> None:
        self.overflow = overflow
        self.attrs = attrs
        self.input_attrs = {**attrs, GenAI.GEN_AI_TOKEN_TYPE: "input"}
        self.output_attrs = {**attrs, GenAI.GEN_AI_TOKEN_TYPE: "output"}
        # finishes and cost carry fewer attributes: several entries may share one of their sets
        finish: dict[str, AttributeValue] = {
            GenAI.GEN_AI_OPERATION_NAME: attrs.get(GenAI.GEN_AI_OPERATION_NAME, ""),
            GenAI.GEN_AI_PROVIDER_NAME: attrs.get(GenAI.GEN_AI_PROVIDER_NAME, ""),
        }
        model = attrs.get(GenAI.GEN_AI_REQUEST_MODEL)
        if model:
            finish[GenAI.GEN_AI_REQUEST_MODEL] = model
        self.cost_attrs = finish
        self.finish_attrs: dict[str, dict[str, AttributeValue]] = {}  # reason -> attributes
        self.input: int | None = None
        self.output: int | None = None
        self.cache_read: int | None = None
        self.reasoning: int | None = None
        self.finishes: dict[str, int] = {}
        self.costs: dict[str | None, float] = {}  # service tier (None: not reported) -> USD

    def typed(self, token_type: str) -> dict[str, AttributeValue]:
        return {**self.attrs, GenAI.GEN_AI_TOKEN_TYPE: token_type}


class CounterTable:
    """The entries of one meter provider. ``entries`` is read without the lock (a dict lookup is
    atomic); entries are created, and sums added, with ``lock`` held."""

    __slots__ = ("__weakref__", "entries", "lock", "overflow", "registered")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[tuple[Any, ...], Entry] = {}
        self.overflow: Entry | None = None
        self.registered = False

    def register(self, meter: Any, tokens: str, finishes: str, cost: str) -> None:
        """The three observable counters on the provider's meter, once per table (the SDK keeps the
        first registration of a name and ignores a second one's callbacks)."""
        with _tables_lock:
            if self.registered:
                return
            self.registered = True
        meter.create_observable_counter(
            tokens,
            callbacks=[self.observe_tokens],
            unit="{token}",
            description="Tokens by type: input, output, cache_read, reasoning",
        )
        meter.create_observable_counter(
            finishes,
            callbacks=[self.observe_finishes],
            unit="{call}",
            description="Calls by finish reason (stop, length, error...)",
        )
        meter.create_observable_counter(
            cost,
            callbacks=[self.observe_cost],
            unit="{USD}",
            description="Estimated cost in US dollars (an estimate)",
        )

    def new_entry(self, key: tuple[Any, ...], attrs: dict[str, AttributeValue]) -> Entry:
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                return entry
            if len(self.entries) < MAX_ENTRIES:
                entry = self.entries[key] = Entry(attrs)
                return entry
            if self.overflow is None:
                self.overflow = Entry(attrs, overflow=True)
            return self.overflow

    def add(self, record: CallRecord, shared: dict[str, AttributeValue], cost: float | None) -> Entry:
        """The entry of ``record``'s attribute set (``shared``: its call site's attributes), with a
        counted call's tokens, finish and cost added to its sums."""
        key = (
            record.operation,
            record.provider,
            record.api_type,
            record.server_address,
            record.server_port,
            record.request_model,
            record.response_model,
            record.error_type,
        )
        entry = self.entries.get(key)
        if entry is None:
            entry = self.new_entry(key, metric_attributes(record, shared))
        if not record.counted:  # counted by another call (telemetry.counting)
            return entry
        usage = record.usage
        input_tokens = usage.input_tokens
        output_tokens = usage.output_tokens
        cache_read = usage.cache_read_tokens
        reasoning = usage.reasoning_tokens
        # the finishes counter's reason, one for every call: "cancelled" when its caller gave up
        # (whatever had arrived), else CallRecord.main_finish_reason's, else "none"; a stream that
        # failed before every choice finished (n > 1: cut off, a dropped connection) is "error", as
        # one that failed before any finish is: the finishes that did arrive are on its span
        reasons = record.finish_reasons
        if record.cancelled:
            reason = "cancelled"
        elif reasons and (record.error_type is None or not record.choices_unfinished):
            reason = reasons[0] if len(reasons) == 1 else main_reason(reasons)
        elif record.error_type is not None:
            reason = "error"
        else:
            reason = "none"
        with self.lock:
            if input_tokens is not None:
                entry.input = input_tokens if entry.input is None else entry.input + input_tokens
            if output_tokens is not None:
                entry.output = output_tokens if entry.output is None else entry.output + output_tokens
            if cache_read is not None:
                entry.cache_read = cache_read if entry.cache_read is None else entry.cache_read + cache_read
            if reasoning is not None:
                entry.reasoning = reasoning if entry.reasoning is None else entry.reasoning + reasoning
            finishes = entry.finishes
            count = finishes.get(reason)
            if count is None:
                finish_attributes(entry, reason)
                finishes[reason] = 1
            else:
                finishes[reason] = count + 1
            if cost is not None:
                # the tier the call was billed at (the response's, else the one asked for): cost only
                tier = record.service_tier or record.request_attributes.get(
                    OpenAIAttr.OPENAI_REQUEST_SERVICE_TIER
                )
                costs = entry.costs
                costs[tier] = costs.get(tier, 0.0) + cost
        return entry

    def reset(self) -> None:
        """In a fork child: forget the parent's sums (and a lock another thread may have held)."""
        self.lock = threading.Lock()
        self.entries = {}
        self.overflow = None

    def _snapshot(self) -> list[Entry]:
        with self.lock:
            found = list(self.entries.values())
            if self.overflow is not None:
                found.append(self.overflow)
            return found

    # The callbacks run at collection time, on the reader's thread: the values are read under the lock.

    def observe_tokens(self, options: CallbackOptions) -> Iterable[Observation]:
        observations: list[Observation] = []
        overflow: int | None = None
        with self.lock:
            over = self.overflow
            if over is not None:
                for value in (over.input, over.output, over.cache_read, over.reasoning):
                    if value is not None:
                        overflow = value + (overflow or 0)
            for entry in self.entries.values():
                if entry.input is not None:
                    observations.append(Observation(entry.input, entry.input_attrs))
                if entry.output is not None:
                    observations.append(Observation(entry.output, entry.output_attrs))
                if entry.cache_read is not None:
                    observations.append(Observation(entry.cache_read, entry.typed("cache_read")))
                if entry.reasoning is not None:
                    observations.append(Observation(entry.reasoning, entry.typed("reasoning")))
        if overflow is not None:
            observations.append(Observation(overflow, dict(OVERFLOW_ATTRIBUTES)))
        return observations

    def observe_finishes(self, options: CallbackOptions) -> Iterable[Observation]:
        sums: dict[tuple[Any, ...], list[Any]] = {}
        overflow = 0
        with self.lock:
            over = self.overflow
            if over is not None:
                overflow = sum(over.finishes.values())
            for entry in self.entries.values():
                for reason, count in entry.finishes.items():
                    attrs = entry.finish_attrs[reason]
                    key = tuple(attrs.items())
                    found = sums.get(key)
                    if found is None:
                        sums[key] = [count, attrs]
                    else:
                        found[0] += count
        observations = [Observation(count, attrs) for count, attrs in sums.values()]
        if over is not None and overflow:
            observations.append(Observation(overflow, dict(OVERFLOW_ATTRIBUTES)))
        return observations

    def observe_cost(self, options: CallbackOptions) -> Iterable[Observation]:
        sums: dict[tuple[Any, ...], list[Any]] = {}
        overflow: float | None = None
        with self.lock:
            over = self.overflow
            if over is not None and over.costs:
                overflow = sum(over.costs.values())
            for entry in self.entries.values():
                for tier, cost in entry.costs.items():
                    attrs = entry.cost_attrs if tier is None else {**entry.cost_attrs, SERVICE_TIER: tier}
                    key = tuple(attrs.items())
                    found = sums.get(key)
                    if found is None:
                        sums[key] = [cost, attrs]
                    else:
                        found[0] += cost
        observations = [Observation(cost, attrs) for cost, attrs in sums.values()]
        if overflow is not None:
            observations.append(Observation(overflow, dict(OVERFLOW_ATTRIBUTES)))
        return observations


def finish_attributes(entry: Entry, reason: str) -> dict[str, AttributeValue]:
    """The finishes counter's attribute set for ``reason`` (called with the table's lock held)."""
    attrs = {**entry.cost_attrs, FINISH_REASON: reason}
    entry.finish_attrs[reason] = attrs
    return attrs


# One table per meter provider (the global one is a provider like any other once it is set): keyed by
# the provider's id, checked against a weak reference (an id is reused once its object is freed), a
# dead provider's table dropped when the next one is made. A table holds no reference to its provider.
_tables: dict[int, tuple[CounterTable, Any]] = {}
_tables_lock = threading.Lock()


def table_for(meter_provider: Any) -> CounterTable:
    with _tables_lock:
        found = _tables.get(id(meter_provider))
        if found is not None and found[1]() is meter_provider:
            return found[0]
        table = CounterTable()
        try:
            ref: Any = weakref.ref(meter_provider)
        except TypeError:  # not weak-referenceable: hold it
            ref = lambda: meter_provider  # noqa: E731
        for stale in [key for key, (_, r) in _tables.items() if r() is None]:
            del _tables[stale]
        _tables[id(meter_provider)] = (table, ref)
        return table


def _reset_in_child() -> None:
    global _tables_lock
    _tables_lock = threading.Lock()
    for table, _ref in list(_tables.values()):
        table.reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)

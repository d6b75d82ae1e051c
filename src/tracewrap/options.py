"""The settings one ``wrap()`` call traces with."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tracewrap.endpoints import DEFAULT_PATHS
from tracewrap.environment import content_max_length_from_env, content_mode_from_env, estimate_cost_from_env
from tracewrap.telemetry.instruments import Instruments, instruments_for

Redactor = Callable[[str], str]


class ContentCapture(enum.Enum):
    """Where prompts and outputs are recorded (the GenAI conventions' capture modes)."""

    NONE = "no_content"
    SPAN = "span_only"
    EVENT = "event_only"
    SPAN_AND_EVENT = "span_and_event"

    @property
    def on_span(self) -> bool:
        return self in (ContentCapture.SPAN, ContentCapture.SPAN_AND_EVENT)

    @property
    def on_event(self) -> bool:
        return self in (ContentCapture.EVENT, ContentCapture.SPAN_AND_EVENT)

    @property
    def enabled(self) -> bool:
        return self is not ContentCapture.NONE


def content_capture_from_env() -> ContentCapture:
    return ContentCapture(content_mode_from_env())


@dataclass(frozen=True)
class TraceOptions:
    tracer_provider: Any = None
    meter_provider: Any = None
    capture: ContentCapture = field(default_factory=content_capture_from_env)
    content_max_length: int = field(default_factory=content_max_length_from_env)
    redact: Redactor | None = None
    provider: str | None = None  # overrides the provider derived from the base URL
    estimate_cost: bool = field(default_factory=estimate_cost_from_env)
    # derived from ``capture`` in __post_init__
    capture_enabled: bool = field(init=False, repr=False, compare=False, default=False)
    capture_on_span: bool = field(init=False, repr=False, compare=False, default=False)
    capture_on_event: bool = field(init=False, repr=False, compare=False, default=False)
    # any of redaction, cost estimate, content on the span or in an event: all off by default,
    # so the end of a call checks this one flag instead of four
    end_extras: bool = field(init=False, repr=False, compare=False, default=False)

    def __post_init__(self) -> None:
        if self.redact is not None and not callable(self.redact):
            raise TypeError(
                f"tracewrap: redact must be a callable str -> str, not {type(self.redact).__name__}"
            )
        if self.provider is not None and (not isinstance(self.provider, str) or not self.provider):
            raise TypeError("tracewrap: provider must be a non-empty string such as 'openai' or 'vllm'")
        length = self.content_max_length
        if not isinstance(length, int) or isinstance(length, bool):
            raise TypeError(
                f"tracewrap: content_max_length must be a positive int, not {type(length).__name__}"
            )
        if length <= 0:
            raise ValueError(f"tracewrap: content_max_length must be a positive int, not {length}")
        for name, method in (("tracer_provider", "get_tracer"), ("meter_provider", "get_meter")):
            provider = getattr(self, name)
            if provider is not None and not callable(getattr(provider, method, None)):
                raise TypeError(
                    f"tracewrap: {name} must be an OpenTelemetry {name.replace('_', ' ')} "
                    f"(with .{method}()) or None, not {type(provider).__name__}"
                )
        if not isinstance(self.estimate_cost, bool):
            raise TypeError(
                f"tracewrap: estimate_cost must be True or False, not {type(self.estimate_cost).__name__}"
            )
        # read on every call: plain booleans, not the enum's properties (a function call each)
        object.__setattr__(self, "capture_enabled", self.capture.enabled)
        object.__setattr__(self, "capture_on_span", self.capture.on_span)
        object.__setattr__(self, "capture_on_event", self.capture.on_event)
        extras = self.redact is not None or self.estimate_cost or self.capture.enabled
        object.__setattr__(self, "end_extras", extras)

    @cached_property  # read on every call; stored in the instance dict after the first read
    def instruments(self) -> Instruments:
        return instruments_for(self.tracer_provider, self.meter_provider)


def build_options(
    *,
    capture_content: str | None = None,
    content_max_length: int | None = None,
    estimate_cost: bool | None = None,
    **given: Any,
) -> TraceOptions:
    """``TraceOptions`` from ``wrap()`` / ``auto.instrument()`` arguments; unset ones come from the env."""
    if estimate_cost is not None:  # an explicit argument wins over TRACEWRAP_ESTIMATE_COST
        given["estimate_cost"] = estimate_cost
    if capture_content is not None:
        try:
            given["capture"] = ContentCapture(capture_content)
        except ValueError:
            valid = ", ".join(m.value for m in ContentCapture)
            raise ValueError(
                f"tracewrap: capture_content={capture_content!r} is not one of {valid}"
            ) from None
    if content_max_length is not None:
        given["content_max_length"] = content_max_length
    return TraceOptions(**given)


def choose_paths(paths: Iterable[str] | None, extra_paths: Iterable[str] | None) -> tuple[str, ...]:
    """``paths`` replaces the default set, ``extra_paths`` extends it; a bad type is a TypeError here."""
    given: dict[str, list[Any]] = {}
    for name, value in (("paths", paths), ("extra_paths", extra_paths)):
        if value is None:
            continue
        if isinstance(value, (str, bytes)):
            raise TypeError(f"tracewrap: {name} takes a list of dotted paths, not a single string {value!r}")
        try:
            given[name] = list(value)
        except TypeError:
            raise TypeError(
                f"tracewrap: {name} takes a list of dotted paths, not {type(value).__name__} {value!r}"
            ) from None
    chosen = given.get("paths", list(DEFAULT_PATHS))
    chosen += [p for p in given.get("extra_paths", ()) if p not in chosen]
    return tuple(chosen)

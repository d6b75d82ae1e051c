"""``configure()``, ``flush()`` and ``shutdown()``: tracewrap's export pipelines, built once.

Providers are installed only when the application has none: an application's own global
TracerProvider / MeterProvider is used as it is, never replaced or added to. Exports run in
background threads (batch span processor with a bounded queue, periodic metric reader, LangSmith's
batcher); flushes and the process exit are bounded by a deadline (:mod:`.bounded`).
"""

from __future__ import annotations

import numbers
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tracewrap import environment, process_ends
from tracewrap.environment import is_placeholder, tracing_enabled
from tracewrap.exporting.bounded import run_all, start_exit_runners
from tracewrap.exporting.dropping import CountingBatchSpanProcessor
from tracewrap.exporting.outcomes import exports_under_way, failed_exports
from tracewrap.fork_safe import module_lock
from tracewrap.logs import logger, say, warn_once
from tracewrap.observers import add_observer, remove_observer
from tracewrap.telemetry.deferred import run_deferred


@dataclass
class Setup:
    """What ``configure()`` set up; returned to the caller (and handy in tests)."""

    enabled: bool = True
    traces_exporters: tuple[str, ...] = ()
    metrics_exporters: tuple[str, ...] = ()
    resource: Resource | None = None
    tracer_provider: TracerProvider | None = None  # ours; None when none was needed or one existed
    meter_provider: MeterProvider | None = None
    uses_existing_tracer_provider: bool = False
    uses_existing_meter_provider: bool = False
    logs_exporters: tuple[str, ...] = ()
    logger_provider: Any = None  # ours, for content log events; None when not needed or one existed
    uses_existing_logger_provider: bool = False
    langsmith: Any = None  # LangSmithObserver
    prometheus_server: Any = None
    exit_timeout: float = environment.DEFAULT_EXIT_TIMEOUT
    span_processors: list[CountingBatchSpanProcessor] = field(default_factory=list)
    log_processors: list[Any] = field(default_factory=list)  # the SDK's BatchLogRecordProcessor

    def dropped_spans(self) -> int:
        """Spans lost because the export queue was full (the exporter was too slow or unreachable)."""
        return sum(p.dropped for p in self.span_processors)


_lock = module_lock(globals(), "_lock")
_setup: Setup | None = None
_setup_arguments: dict[str, Any] = {}
_atexit_registered = False
# every provider configure() made and set globally: still the global one after shutdown(), when
# flush() must not flush it as if it were the application's (a shut-down provider answers False)
_made: list[Any] = []


def configure(
    *,
    service_name: str | None = None,
    traces_exporter: str | Iterable[str] | None = None,
    metrics_exporter: str | Iterable[str] | None = None,
    exit_timeout: float | None = None,
    langsmith_client: Any = None,
    prometheus_port: int | None = None,
    max_queue_size: int | None = None,
) -> Setup:
    """Set up export from arguments, falling back to the standard environment variables.

    Idempotent: a second call returns the set-up in force (and logs one warning naming the
    arguments it did not apply, when they differ). ``max_queue_size`` bounds the span queue
    (default ``OTEL_BSP_MAX_QUEUE_SIZE``, 2048). The first traced call of a process calls it with
    no arguments when the environment names a destination (:mod:`.first_call`): call it yourself
    before your first OpenAI call to choose otherwise.

    An argument of the wrong type (``traces_exporter=b"console"``, ``exit_timeout="3"``) is a
    ``TypeError``: a mistake in the code. A value of the right type that is no good (an unknown
    exporter name, a negative timeout) is one warning and the default, as for the variables.
    """
    global _setup, _setup_arguments
    _check_type("service_name", service_name, str)
    traces_exporter = _exporter_names("traces_exporter", traces_exporter)
    metrics_exporter = _exporter_names("metrics_exporter", metrics_exporter)
    _check_type("exit_timeout", exit_timeout, numbers.Real)
    _check_type("prometheus_port", prometheus_port, numbers.Integral)
    _check_type("max_queue_size", max_queue_size, numbers.Integral)
    if langsmith_client is not None and not callable(getattr(langsmith_client, "create_run", None)):
        # it was accepted, then every call logged an internal error and no run was sent
        raise TypeError(
            "configure(langsmith_client=...) takes a langsmith.Client, "
            f"not {type(langsmith_client).__name__}: {langsmith_client!r}"
        )
    given = {
        name: value
        for name, value in (
            ("service_name", service_name),
            ("traces_exporter", traces_exporter),
            ("metrics_exporter", metrics_exporter),
            ("exit_timeout", exit_timeout),
            ("langsmith_client", langsmith_client),
            ("prometheus_port", prometheus_port),
            ("max_queue_size", max_queue_size),
        )
        if value is not None
    }
    with _lock:
        if _setup is not None:
            _warn_not_applied(given)
            return _setup
        _setup_arguments = given
        if not tracing_enabled():
            _setup = Setup(enabled=False)
            return _setup
        traces = environment.traces_exporters(traces_exporter)
        if langsmith_client is not None and "langsmith" not in traces:
            traces = (*traces, "langsmith")
        if "langsmith" in traces and langsmith_client is None and not environment.langsmith_api_key_in_env():
            # the client would send every run unauthenticated, be refused, and hold the exit
            warn_once(
                "langsmith:no-api-key",
                "LangSmith export is off: langsmith is named as a traces exporter, but neither "
                "LANGSMITH_API_KEY nor LANGCHAIN_API_KEY is set (or pass configure(langsmith_client=...))",
            )
            traces = tuple(name for name in traces if name != "langsmith")
        if "langsmith" in traces and not langsmith_exports():
            traces = tuple(name for name in traces if name != "langsmith")
        setup = Setup(
            traces_exporters=traces,
            metrics_exporters=environment.metrics_exporters(metrics_exporter),
            logs_exporters=environment.logs_exporters(traces, environment.content_events_from_env()),
            resource=_resource({SERVICE_NAME: service_name} if service_name else {}),
            exit_timeout=environment.exit_timeout(exit_timeout),
        )
        # each signal on its own: one the SDK refuses (OTEL_METRICS_EXEMPLAR_FILTER=bogus makes
        # MeterProvider() raise) left the others half set up, never flushed at exit
        langsmith = partial(_set_up_langsmith, setup, langsmith_client) if "langsmith" in traces else None
        _each_on_its_own(
            [
                ("traces", partial(_set_up_traces, setup, max_queue_size)),
                ("metrics", partial(_set_up_metrics, setup, prometheus_port)),
                ("content log events", partial(_set_up_logs, setup)),
                ("LangSmith", langsmith),
            ]
        )
        _register_atexit()
        _setup = setup
        return setup


def _resource(attributes: dict[str, Any]) -> Resource:
    """The SDK's ``Resource.create(attributes)``; at interpreter shutdown, the same resource made here.

    A process's first traced call may come once its main thread has ended: from a thread nobody
    joins, or an ``atexit`` handler. The SDK runs its resource detectors on a thread pool, which
    Python then refuses ("cannot schedule new futures after interpreter shutdown", "can't register
    atexit after shutdown"), and export was never set up: nothing of the process was exported. The
    detectors run one after another instead (the SDK's list of them is private: read defensively)."""
    try:
        return Resource.create(attributes)
    except RuntimeError:
        from opentelemetry.sdk import resources

        build = getattr(resources, "_build_resource_detectors", None)
        detectors = build() if build is not None else [resources.OTELResourceDetector()]
        resource = getattr(resources, "_DEFAULT_RESOURCE", Resource.get_empty())
        for detector in detectors:
            try:
                resource = resource.merge(detector.detect())
            except Exception as exc:
                logger.debug("resource detector %r failed: %r", detector, exc)
        resource = resource.merge(Resource(attributes))
        if not resource.attributes.get(SERVICE_NAME):
            resource = resource.merge(
                Resource({SERVICE_NAME: f"unknown_service:{os.path.basename(sys.executable)}"})
            )
        return resource


def _each_on_its_own(steps: Iterable[tuple[str, Callable[[], None] | None]]) -> None:
    for signal, step in steps:
        if step is None:
            continue
        try:
            step()
        except Exception as exc:
            logger.warning("%s export is off: it could not be set up: %s", signal, exc)


def _check_type(name: str, value: Any, kind: type) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
        expected = {str: "a str", numbers.Real: "a number", numbers.Integral: "an int"}[kind]
        raise TypeError(f"configure({name}=...) takes {expected}, not {type(value).__name__}: {value!r}")


def _exporter_names(name: str, value: Any) -> str | tuple[str, ...] | None:
    """A str (comma-separated names) or an iterable of str, as a tuple; else a TypeError (bytes
    would be iterated as numbers, each warned about as an unknown exporter)."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, (bytes, bytearray, memoryview)):
        try:
            names = tuple(value)
        except TypeError:
            pass
        else:
            if all(isinstance(item, str) for item in names):
                return names
    raise TypeError(
        f"configure({name}=...) takes a str (comma-separated names) or an iterable of str, "
        f"not {type(value).__name__}: {value!r}"
    )


def configure_from_environment() -> Setup:
    """``configure()`` with no arguments, as the first traced call does it (no warning if set up)."""
    with _lock:
        if _setup is not None:
            return _setup
    return configure()


def current_setup() -> Setup | None:
    return _setup


def _warn_not_applied(given: dict[str, Any]) -> None:
    differing = sorted(name for name, value in given.items() if _setup_arguments.get(name) != value)
    if differing:
        warn_once(
            "configure:" + ",".join(differing),
            "configure() was already called%s; these arguments were not applied: %s "
            "(call configure() before the first OpenAI call, or shutdown() first)",
            "" if _setup_arguments else " (with no arguments, e.g. by the first traced call)",
            ", ".join(differing),
        )


def _set_up_traces(setup: Setup, max_queue_size: int | None) -> None:
    wanted = [n for n in setup.traces_exporters if n in ("otlp", "console")]
    if not wanted:
        return
    if not is_placeholder(trace.get_tracer_provider()):
        setup.uses_existing_tracer_provider = True
        logger.info(
            "the application has its own TracerProvider; spans go to its exporters (%s not added)",
            ", ".join(wanted),
        )
        return
    provider = TracerProvider(resource=setup.resource, shutdown_on_exit=False)  # our atexit is bounded
    added = 0
    for name in wanted:
        try:
            if name == "otlp":
                from tracewrap.exporting.otlp import span_exporter

                # sizes and delay passed explicitly: a bad OTEL_BSP_* value is a warning, not a
                # ValueError from the SDK (environment.batching)
                queue, batch, delay = environment.batching("OTEL_BSP", max_queue_size)
                processor = CountingBatchSpanProcessor(
                    span_exporter(),
                    max_queue_size=queue,
                    schedule_delay_millis=delay,
                    max_export_batch_size=batch,
                )
                setup.span_processors.append(processor)
                provider.add_span_processor(processor)
            else:
                from tracewrap.exporting.console import ConsoleCallExporter

                # one stderr line per call, written when the call ends: for development
                provider.add_span_processor(SimpleSpanProcessor(ConsoleCallExporter()))
            added += 1
        except Exception as exc:
            logger.warning("could not set up the %s span exporter: %r", name, exc)
    if not added:
        # a provider with no processor would only record into nothing, and the application could
        # not install its own after it (a global provider is set once)
        return
    trace.set_tracer_provider(provider)
    setup.tracer_provider = provider
    _made.append(provider)


def _set_up_metrics(setup: Setup, prometheus_port: int | None) -> None:
    wanted = setup.metrics_exporters
    if not wanted:
        return
    if not is_placeholder(metrics.get_meter_provider()):
        setup.uses_existing_meter_provider = True
        logger.info(
            "the application has its own MeterProvider; metrics go to its readers (%s not added)",
            ", ".join(wanted),
        )
        return
    readers: list[MetricReader] = []
    for name in wanted:
        try:
            readers.append(_metric_reader(name, setup, prometheus_port))
        except Exception as exc:
            logger.warning("could not set up the %s metric exporter: %r", name, exc)
    if not readers:
        return
    provider = MeterProvider(metric_readers=readers, resource=setup.resource, shutdown_on_exit=False)
    metrics.set_meter_provider(provider)
    setup.meter_provider = provider
    _made.append(provider)


def _metric_reader(name: str, setup: Setup, prometheus_port: int | None) -> MetricReader:
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

    if name == "otlp":
        from tracewrap.exporting.otlp import metric_exporter

        # OTEL_METRIC_EXPORT_INTERVAL read here: the SDK raises for 0 or a negative value
        return PeriodicExportingMetricReader(metric_exporter(), environment.metric_export_interval_ms())
    if name == "console":
        return PeriodicExportingMetricReader(
            ConsoleMetricExporter(out=sys.stderr), environment.metric_export_interval_ms()
        )
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    reader = PrometheusMetricReader()
    port = environment.prometheus_port(prometheus_port)
    try:
        setup.prometheus_server, _thread = start_http_server(port, addr="127.0.0.1")
    except OSError as exc:
        logger.warning("cannot serve Prometheus metrics on 127.0.0.1:%d: %s", port, exc)
    return reader


def _set_up_logs(setup: Setup) -> None:
    """A LoggerProvider for the content log events (capture modes ``event_only`` / ``span_and_event``)."""
    wanted = setup.logs_exporters
    if not wanted:
        return
    from opentelemetry import _logs

    if not is_placeholder(_logs.get_logger_provider()):
        setup.uses_existing_logger_provider = True
        return
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogExporter

    provider = LoggerProvider(resource=setup.resource, shutdown_on_exit=False)  # our atexit is bounded
    added = 0
    for name in wanted:
        try:
            if name == "otlp":
                from tracewrap.exporting.otlp import log_exporter

                exporter = log_exporter()
            else:
                exporter = ConsoleLogExporter(out=sys.stderr)
            queue, batch, delay = environment.batching("OTEL_BLRP")
            processor = BatchLogRecordProcessor(
                exporter, max_queue_size=queue, schedule_delay_millis=delay, max_export_batch_size=batch
            )
            setup.log_processors.append(processor)
            provider.add_log_record_processor(processor)
            added += 1
        except Exception as exc:
            logger.warning("could not set up the %s log exporter: %r", name, exc)
    if not added:
        return  # as for spans: no provider that records into nothing
    _logs.set_logger_provider(provider)
    setup.logger_provider = provider


# LangSmith export needs this langsmith or newer: older clients have no daemon sender threads
# (before 0.7.0, exit waited for their retries), no flush timeout (before 0.7.37, flush() sent no
# runs) and wrap_openai tags no ls_agent_type (before 0.10.16). The dependency itself accepts older
# ones: openai 1.x on pydantic 1 gets langsmith 0.5 at most (0.6 on need pydantic 2). The oldest CI
# lane installs this version (pyproject.toml's [tool.tracewrap.tested-floors]).
LANGSMITH_EXPORT_FLOOR = (0, 10, 16)


def langsmith_exports() -> bool:
    """Whether the installed langsmith can carry LangSmith export (one warning when not)."""
    installed = _installed_version("langsmith")
    if installed is None or _release(installed) >= LANGSMITH_EXPORT_FLOOR:
        return True  # (not installed: the set-up's own import error says so)
    floor = ".".join(map(str, LANGSMITH_EXPORT_FLOOR))
    warn_once(
        "langsmith:too-old",
        f"LangSmith export is off: it needs langsmith {floor} or newer, and {installed} is installed "
        f"(pip install -U 'langsmith>={floor}', which needs pydantic 2); older clients hold the "
        "process exit and send no run at flush()",
    )
    return False


def _installed_version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _release(text: str) -> tuple[int, ...]:
    """The leading numbers of a version (``0.10.16rc1`` → ``(0, 10, 16)``)."""
    found = re.match(r"\d+(?:\.\d+)*", text)
    return tuple(int(number) for number in found[0].split(".")) if found else ()


def _set_up_langsmith(setup: Setup, client: Any) -> None:
    try:
        from tracewrap.exporting.langsmith import LangSmithObserver, langsmith_settings

        observer = LangSmithObserver(langsmith_settings(), client)
    except Exception as exc:
        logger.warning("LangSmith export is off, its client could not be created: %r", exc)
        return
    add_observer(observer)
    setup.langsmith = observer


def _flush_jobs(setup: Setup, timeout: float) -> dict[str, Callable[[], Any]]:
    millis = int(timeout * 1000)
    jobs: dict[str, Callable[[], Any]] = {}
    if setup.tracer_provider is not None:
        jobs["flush-spans"] = lambda: setup.tracer_provider.force_flush(millis)  # type: ignore[union-attr]
    if setup.meter_provider is not None:
        jobs["flush-metrics"] = lambda: setup.meter_provider.force_flush(millis)  # type: ignore[union-attr]
    if setup.logger_provider is not None:
        jobs["flush-logs"] = lambda: setup.logger_provider.force_flush(millis)
    if setup.langsmith is not None:
        jobs["flush-langsmith"] = lambda: setup.langsmith.flush(timeout)
    return jobs


def flush(timeout: float = 5.0) -> bool:
    """Export what has finished so far; False when something did not make it within ``timeout``
    (an exporter still at work at the deadline, or an export refused or failed meanwhile).

    tracewrap's own pipelines and the application's global providers, which tracewrap records into
    when the application set them up (a serverless handler's ``tracewrap.flush()`` returned True with
    their spans still queued), side by side under the one deadline.
    """
    run_deferred()  # streams the GC found dropped: their spans end before the flush
    setup = _setup
    if setup is not None and not setup.enabled:
        return True
    timeout = environment.bounded_wait(timeout)  # flush(float("inf")): a day, not an OverflowError
    jobs = _flush_jobs(setup, timeout) if setup is not None else {}
    millis = int(timeout * 1000)
    jobs.update({name: partial(job, millis) for name, job in _global_flush_jobs(setup).items()})
    failed_before = failed_exports()
    finished = run_all(jobs, timeout) if jobs else True
    return finished and failed_exports() == failed_before


def _global_flush_jobs(setup: Setup | None) -> dict[str, Callable[[int], Any]]:
    """``force_flush(millis)`` of the global tracer and meter providers that are not tracewrap's own
    (the application's, a distro's): the SDK's, or any with a ``force_flush``."""
    own = [*_made] if setup is None else [setup.tracer_provider, setup.meter_provider, *_made]
    jobs: dict[str, Callable[[int], Any]] = {}
    for name, provider in (("spans", trace.get_tracer_provider()), ("metrics", metrics.get_meter_provider())):
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is not None and not any(provider is mine for mine in own):
            jobs[f"flush-global-{name}"] = force_flush
    return jobs


def shutdown(timeout: float = 5.0) -> None:
    """Flush and stop tracewrap's exporters, taking at most ``timeout`` seconds; idempotent. What is
    still queued or retried at the deadline is dropped: nothing is sent after this returns but the
    answer to an export already under way."""
    _shutdown(timeout)


def _shutdown(timeout: float) -> bool:
    """:func:`shutdown`; False when an exporter did not finish in time, an export failed, or one is
    left running (the SDK's shutdown stops waiting for it at its timeout)."""
    global _setup
    run_deferred()
    with _lock:
        setup, _setup = _setup, None
    if setup is None or not setup.enabled:
        return True
    timeout = environment.bounded_wait(timeout)
    millis = int(timeout * 1000)
    jobs: dict[str, Callable[[], Any]] = {}
    if setup.tracer_provider is not None:
        provider = setup.tracer_provider
        jobs["shutdown-spans"] = lambda: _shutdown_provider(provider, setup.span_processors, millis)
    if setup.meter_provider is not None:
        jobs["shutdown-metrics"] = lambda: setup.meter_provider.shutdown(millis)  # type: ignore[union-attr]
    if setup.logger_provider is not None:
        logs = setup.logger_provider
        jobs["shutdown-logs"] = lambda: _shutdown_provider(logs, setup.log_processors, millis)
    if setup.langsmith is not None:
        remove_observer(setup.langsmith)
        jobs["shutdown-langsmith"] = lambda: setup.langsmith.close(timeout)
    if setup.prometheus_server is not None:
        jobs["shutdown-prometheus"] = setup.prometheus_server.shutdown
    failed_before = failed_exports()
    finished = run_all(jobs, timeout)
    dropped = setup.dropped_spans()
    if dropped:
        logger.warning("%d spans were dropped because the export queue was full", dropped)
    return finished and failed_exports() == failed_before and not exports_under_way()


def _shutdown_provider(provider: Any, batch_processors: list[Any], millis: int) -> None:
    for processor in batch_processors:
        _shut_down_within(processor, millis)
    provider.shutdown()  # the rest (a console's processor); takes no timeout


def _shut_down_within(processor: Any, millis: int) -> None:
    """A batch processor's shutdown, bounded by ``millis``: the SDK's own bounded one.

    The public ``shutdown()`` of the SDK's span and log batch processors takes no timeout and waits
    out every batch still queued, the exporter's retries included: past ``shutdown()``'s deadline
    their exports went on in the background, seconds later. The batch processor inside them waits
    for its worker ``millis`` at most, then exports no further batch and shuts the exporter down,
    which ends its retries. It is private, so read defensively: without it, the public shutdown
    (bounded then only by the runner thread's deadline, as before)."""
    inner = getattr(processor, "_batch_processor", None)
    bounded = getattr(inner, "shutdown", None)
    if bounded is None:
        processor.shutdown()
        return
    bounded(timeout_millis=millis)


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        _atexit_registered = True
        # the hook itself was registered when tracewrap started (wrap(), start-up): a handler the
        # program registered after that and before this runs before the flush, and its calls export
        process_ends.set_exit_flush(_at_exit)
        start_exit_runners()  # Python 3.12: the exit flush's threads, while they can still start
        _flush_at_process_ends()


def _flush_at_process_ends() -> None:
    """Ends that skip ``atexit``: multiprocessing children (``os._exit``, SIGTERM from a pool's
    terminate), uvicorn re-raising SIGTERM after its graceful shutdown (:mod:`tracewrap.process_ends`)."""
    process_ends.register_flush(flush_at_process_end)
    try:
        process_ends.watch()
    except Exception as exc:  # an optional safety net: never a reason for configure() to fail
        logger.debug("cannot watch for process ends: %r", exc)


def flush_at_process_end(timeout: float | None = None) -> None:
    """Export what this process recorded within ``timeout`` (``TRACEWRAP_EXIT_TIMEOUT``) in all;
    never raises.

    Both tracewrap's own exporters and the global providers (:func:`flush`): ``configure()`` adopts
    a provider the application installed, and that one is only flushed through the global API. All
    run on runner threads under the one deadline (the SDK's batch processors ignore the timeout they
    are given: against a dead endpoint a direct call waited an export timeout per batch, 20-60 s in
    a worker's end).
    """
    try:
        timeout = environment.exit_timeout() if timeout is None else environment.bounded_wait(timeout)
        if not flush(end_time_left(timeout)):
            _say_undelivered(timeout)
    except Exception as exc:
        say(f"could not flush telemetry at process exit ({type(exc).__name__}: {exc})")


def _at_exit() -> None:
    setup = _setup
    if setup is not None:
        # bounded: exporters still stuck after it are abandoned; a SIGTERM meanwhile waits for it
        process_ends.flush_at_exit(lambda: _shutdown_at_exit(setup.exit_timeout))


def _shutdown_at_exit(timeout: float) -> None:
    if not _shutdown(end_time_left(timeout)):
        _say_undelivered(timeout)


_said_undelivered: int | None = None  # the pid that said it


def _say_undelivered(timeout: float) -> None:
    """Telemetry goes somewhere, or tracewrap says why not: an export the process's end flushes
    saw refused or failed, or an exporter still at work when they ran out of time (a collector that
    accepts and never answers, a slow link), lost what it held. Once per process."""
    global _said_undelivered
    if _said_undelivered != os.getpid():
        _said_undelivered = os.getpid()
        say(
            f"telemetry not all delivered: as the process ended an export failed, or was still at "
            f"work when TRACEWRAP_EXIT_TIMEOUT ({timeout:g} s) ran out; its endpoint is down, "
            f"refusing or too slow"
        )


# (pid, deadline): the end flushes of one process share one exit timeout
_end_deadline: tuple[int, float] | None = None


def end_time_left(timeout: float) -> float:
    """What this process's end flushes have left of ``timeout``: the first one starts the deadline,
    the ones after it get what remains. A multiprocessing child flushes when its target returns, in
    its bootstrap and (spawned) at ``atexit``: against a dead endpoint each waited the whole
    ``TRACEWRAP_EXIT_TIMEOUT`` in turn (6-10 s for 3 s), and a ``Pool(maxtasksperchild=1)`` waited
    that long for every worker it replaced. A fork's child (another pid) has a deadline of its own."""
    global _end_deadline
    now, pid = time.monotonic(), os.getpid()
    if _end_deadline is None or _end_deadline[0] != pid:
        _end_deadline = (pid, now + timeout)
    return max(0.0, min(timeout, _end_deadline[1] - now))

"""A BatchSpanProcessor that counts the spans it had to drop.

The SDK's batch processor keeps a bounded queue (``OTEL_BSP_MAX_QUEUE_SIZE``) and drops the
oldest span when it is full, logging only a generic warning. Memory stays bounded; this wrapper
makes the loss visible as a number and says it once.
"""

from __future__ import annotations

import threading

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from tracewrap.logs import logger


class CountingBatchSpanProcessor(BatchSpanProcessor):
    def __init__(
        self,
        exporter: SpanExporter,
        max_queue_size: int | None = None,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
    ) -> None:
        super().__init__(
            exporter,
            max_queue_size=max_queue_size,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=max_export_batch_size,
        )
        self.dropped = 0
        self._lock = threading.Lock()
        self._told = False

    @property
    def max_queue_size(self) -> int:
        return int(getattr(self._batch_processor, "_max_queue_size", 0))

    def queued(self) -> int:
        # private in the SDK; read defensively so an SDK change only loses the count
        queue = getattr(self._batch_processor, "_queue", None)
        return len(queue) if queue is not None else 0

    def on_end(self, span: ReadableSpan) -> None:
        limit = self.max_queue_size
        if limit and self.queued() >= limit:
            with self._lock:
                self.dropped += 1
                first = not self._told
                self._told = True
            if first:
                logger.warning(
                    "the span export queue is full (%d spans; the exporter cannot keep up or "
                    "is unreachable); dropping the oldest spans. configure().dropped_spans() counts them",
                    limit,
                )
        super().on_end(span)

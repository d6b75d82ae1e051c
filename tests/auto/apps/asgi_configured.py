"""Child program for uvicorn without auto-instrumentation: the app calls ``configure()`` and ``wrap()``.

The spans go over OTLP through a batch processor whose timer does not fire during the test
(``OTEL_BSP_SCHEDULE_DELAY``), so they only arrive if something flushes them at shutdown.
"""

from __future__ import annotations

import openai
from asgi import make_app

import tracewrap

tracewrap.configure()
app = make_app(tracewrap.wrap(openai.AsyncOpenAI(api_key="sk-test")))

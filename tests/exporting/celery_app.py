"""Celery app: tasks that call OpenAI, for a real ``celery worker`` (tests/exporting/test_celery.py).

The broker is kombu's filesystem transport and the result backend Celery's file backend, both in
``TW_CELERY_DIR``: no network service. ``TW_SETUP=wrap``: ``tracewrap.wrap(openai)`` here, in the
tasks' module the worker imports; ``auto``: nothing (``TRACEWRAP_ENABLED=true`` does it).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from pathlib import Path
from typing import Any

import openai
from celery import Celery
from celery.signals import worker_process_init

import tracewrap

CHAT = "tw.chat"
POOL_PROCESSES = "pool-processes"  # a folder in TW_CELERY_DIR: a file per pool process started
IMPORTED_IN = os.getpid()  # a forked pool process got this module from the worker; a spawned one imports it


def _stacks_on_sigwinch(**_: Any) -> None:
    """A hung worker's stacks in its log: the test sends SIGWINCH to the worker's process group
    before it kills it. Celery and billiard take SIGUSR1 and SIGUSR2 (billiard's pool processes end
    on either); SIGWINCH they leave alone, and a process without this handler ignores it. Written to
    the real stderr (the log): in a pool process ``sys.stderr`` is Celery's logging proxy."""
    faulthandler.register(signal.SIGWINCH, file=sys.__stderr__, all_threads=True)


def make_app(directory: str) -> Celery:
    """The app, for the worker and for the test that sends it tasks (same broker, same backend)."""
    queue, results = Path(directory, "queue"), Path(directory, "results")
    queue.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    app = Celery("tw_celery", broker="filesystem://", backend=f"file://{results}")
    app.conf.broker_transport_options = {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "control_folder": str(Path(directory, "control")),  # (else ./control, in the checkout)
        "polling_interval": 0.1,
        "store_processed": False,
    }
    app.conf.worker_hijack_root_logger = False
    app.conf.broker_connection_retry_on_startup = True
    return app


if "TW_CELERY_DIR" in os.environ:
    app = make_app(os.environ["TW_CELERY_DIR"])
    app.conf.worker_pool_start_method = os.environ.get("TW_START_METHOD", "fork")

    _stacks_on_sigwinch()  # the worker's process
    worker_process_init.connect(_stacks_on_sigwinch)  # and each pool process, forked or spawned

    @worker_process_init.connect
    def _say_started(**_: Any) -> None:
        """One file per pool process that has started (POOL_PROCESSES), for the test to count."""
        started = Path(os.environ["TW_CELERY_DIR"], POOL_PROCESSES)
        started.mkdir(exist_ok=True)
        (started / str(os.getpid())).touch()

    if os.environ.get("TW_SETUP") == "wrap":
        tracewrap.wrap(openai)

    @app.task(name=CHAT)
    def chat(model: str) -> dict[str, Any]:
        client = openai.OpenAI(base_url=os.environ["TW_BASE_URL"], api_key="sk-test", max_retries=0)
        try:
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        finally:
            client.close()
        assert reply.usage is not None
        return {
            "model": model,
            "response_model": reply.model,
            "pid": os.getpid(),
            "total_tokens": reply.usage.total_tokens,
            "spawned": os.getpid() == IMPORTED_IN,
        }

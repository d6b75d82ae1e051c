"""Child program for the kill switch: asks for tracing every way there is, then calls OpenAI."""

from __future__ import annotations

import json
from typing import Any

import openai

import tracewrap
import tracewrap.auto

MESSAGES: Any = [{"role": "user", "content": "hi"}]  # the SDK's TypedDicts, loosely


def main() -> None:
    instrumented = tracewrap.auto.instrument()
    wrapped = tracewrap.wrap(openai.OpenAI(api_key="sk-test"))
    proxied = tracewrap.wrap(openai).OpenAI(api_key="sk-test")
    results = {
        "instrument_returned": instrumented,
        "init_patched": type(openai.OpenAI.__dict__["__init__"]).__name__,
        "wrapped": wrapped.chat.completions.create(model="m-killed", messages=MESSAGES).model,
        "proxied": proxied.chat.completions.create(model="m-killed", messages=MESSAGES).model,
        "marks": ["_tracewrap_installation" in c.__dict__ for c in (wrapped, proxied)],
    }
    print("RESULT " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()

"""Child program: probes for ``openai`` the way libraries check optional dependencies (instructor
does at import), then imports it and calls. Prints ``RESULT {json}``."""

from __future__ import annotations

import importlib.util
import json

assert importlib.util.find_spec("openai") is not None  # a probe: returns a spec, imports nothing

import openai  # noqa: E402

reply = openai.OpenAI(api_key="sk-test").chat.completions.create(
    model="m-probed", messages=[{"role": "user", "content": "hi"}]
)
print("RESULT " + json.dumps({"model": reply.model}), flush=True)

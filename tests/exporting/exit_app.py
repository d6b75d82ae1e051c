"""A small program for exit-time tests: configure from the environment, make calls, exit.

With ``traceable`` as a third argument, each call is made inside the application's own
``@traceable`` function. Prints ``DONE <epoch seconds>`` as its last act, so the parent can
measure how long the interpreter took to exit after the program's own work was over.
"""

from __future__ import annotations

import sys
import time

import openai

import tracewrap


def main(base_url: str, calls: int, inside_traceable: bool) -> None:
    tracewrap.configure()
    client = tracewrap.wrap(
        openai.OpenAI(base_url=base_url, api_key="sk-exit-test", max_retries=0, timeout=10)
    )

    def ask() -> str:
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        return reply.choices[0].message.content or ""

    if inside_traceable:  # the application's own runs, through langsmith's default client
        from langsmith import traceable

        ask = traceable(name="ask")(ask)
    for _ in range(calls):
        assert ask()
    print(f"DONE {time.time():.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:] == ["traceable"])

"""instructor, imported BEFORE openai (it probes for optional packages with find_spec at import)."""

from __future__ import annotations

from typing import Any

import instructor  # first: the start-up hook must survive its find_spec probes
from pydantic import BaseModel


class Person(BaseModel):
    name: str
    age: int


def run(base_url: str) -> dict[str, Any]:
    import openai

    client = instructor.from_openai(openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0))
    person = client.chat.completions.create(
        model="gpt-4o-mini",
        response_model=Person,
        messages=[{"role": "user", "content": "Who is Ada?"}],
        max_retries=0,
    )
    return {"person": person.model_dump()}

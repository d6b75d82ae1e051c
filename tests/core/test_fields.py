"""tracewrap.normalize.fields reads pydantic's storage directly: checked against getattr on the
pydantic installed, for the SDK's own models (fast road on pydantic 2, fallback on pydantic 1) and
for models it must not take (fallback). CI runs this on pydantic 2 (every SDK venv) and pydantic 1
(openai 1.x allows it: the ``pydantic1`` lane of scripts/test.sh)."""

from __future__ import annotations

from typing import Any

import pydantic
import pydantic.v1
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from tracewrap.normalize.fields import field, fields_of, pydantic_field_names

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "hi"},
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    "a_field_newer_than_the_sdk": "extra",
}


class V1Usage(pydantic.v1.BaseModel):
    prompt_tokens: int
    completion_tokens: int | None = None


class OwnGetattr(pydantic.BaseModel):
    prompt_tokens: int

    def __getattr__(self, name: str) -> Any:
        return f"computed {name}"


PYDANTIC_MAJOR = int(pydantic.VERSION.split(".")[0])


def _parse(model: Any, data: dict[str, Any]) -> Any:
    return model.model_validate(data) if PYDANTIC_MAJOR >= 2 else model.parse_obj(data)


def test_sdk_models_take_the_road_of_the_installed_pydantic() -> None:
    names = pydantic_field_names(ChatCompletion)
    if PYDANTIC_MAJOR >= 2:  # the fast road: pydantic 2's storage read directly
        assert names is not None and {"model_dump", "model_fields", "__pydantic_extra__"} <= names
        assert pydantic_field_names(Response) is not None
    else:  # pydantic 1 has no __pydantic_fields__: every model takes the getattr fallback
        assert PYDANTIC_MAJOR == 1 and names is None


def test_field_reads_what_getattr_reads() -> None:
    completion = _parse(ChatCompletion, COMPLETION)
    for name in ("id", "model", "choices", "usage", "system_fingerprint", "service_tier"):
        assert field(completion, name) is getattr(completion, name)
    assert field(completion, "a_field_newer_than_the_sdk") == "extra"  # an extra
    assert field(completion, "no_such_name") is None  # not set, not declared, no extra
    assert field(completion.usage, "prompt_tokens") == 3
    assert field(completion.usage, "input_tokens") is None  # the Responses shape's name
    get = fields_of(completion).get
    assert get("id") == "chatcmpl-1"
    assert get("a_field_newer_than_the_sdk") == "extra"
    assert get("system_fingerprint") is None
    if PYDANTIC_MAJOR >= 2:
        assert fields_of(completion.usage) is completion.usage.__dict__  # no extras: the dict itself
    assert fields_of(completion.usage).get("prompt_tokens") == 3


def test_models_it_must_not_read_directly_fall_back_to_getattr() -> None:
    v1 = V1Usage(prompt_tokens=5)
    assert pydantic_field_names(V1Usage) is None
    assert field(v1, "prompt_tokens") == 5
    assert field(v1, "completion_tokens") is None
    assert field(v1, "input_tokens") is None
    assert fields_of(v1).get("prompt_tokens") == 5

    own = OwnGetattr(prompt_tokens=2)
    assert pydantic_field_names(OwnGetattr) is None  # its __getattr__ is not pydantic's
    assert field(own, "prompt_tokens") == 2
    assert field(own, "anything") == "computed anything"  # as getattr gives it


def test_mappings_and_other_objects() -> None:
    assert field({"a": 1}, "a") == 1
    assert field(None, "a") is None
    assert field(CompletionUsage(prompt_tokens=1, completion_tokens=2, total_tokens=3), "total_tokens") == 3
    assert field(object(), "a") is None
    assert fields_of({"a": 1}).get("a") == 1

"""Request readers remember what they made of a call's plain parameter values
(``normalize/requests.remembered``): a repeat must read exactly as the plain reader would.

Every parameter of the SDK's methods is tried with values that read differently, one after the
other, through the remembering reader and the plain one: a parameter the reader reads but the table's
key leaves out would hand the second value the first one's attributes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import openai
import pydantic
import pytest

from tracewrap.normalize import requests
from tracewrap.record import CallRecord

Reader = Callable[[Mapping[str, Any], CallRecord], None]


class Answer(pydantic.BaseModel):
    text: str


VALUES: list[Any] = [
    "a",
    "b",
    0,
    1,
    2,
    0.5,
    0.7,
    1.0,
    True,
    False,
    None,
    openai.NOT_GIVEN,
    ("x",),
    ["x", "y"],
    {"type": "json_object"},
    {"type": "text"},
    {"format": {"type": "json_schema"}},
    {"id": "conv_1"},
    Answer,
]
if hasattr(openai, "omit"):
    VALUES.append(openai.omit)

READERS = [
    ("chat", requests._read_chat_request, requests.read_chat_request, "chat.completions"),
    ("responses", requests._read_responses_request, requests.read_responses_request, "responses"),
    ("completions", requests._read_completion_request, requests.read_completion_request, "completions"),
]
NOT_PARAMETERS = {"self", "extra_headers", "extra_query", "extra_body", "timeout"}


def _parameters(resource_path: str) -> set[str]:
    """Every keyword of the SDK's methods on that resource (create, parse, stream where it has them)."""
    client = openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9")
    resource: Any = client
    for part in resource_path.split("."):
        resource = getattr(resource, part)
    names: set[str] = set()
    for method in ("create", "parse", "stream"):
        if hasattr(resource, method):
            names |= set(inspect.signature(getattr(resource, method)).parameters)
    return names - NOT_PARAMETERS


def _read(reader: Reader, kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    record = CallRecord(operation="chat", api_type=None, provider="openai")
    reader(kwargs, record)
    return record.request_model, record.stream, record.request_attributes


@pytest.mark.parametrize(("name", "plain", "remembering", "resource"), READERS, ids=[r[0] for r in READERS])
def test_every_parameter_reads_as_the_plain_reader_says_first_time_and_again(
    name: str, plain: Reader, remembering: Reader, resource: str
) -> None:
    parameters = _parameters(resource)
    max_tokens = "max_output_tokens" if name == "responses" else "max_tokens"
    assert {"model", "temperature", max_tokens} <= parameters
    differing = 0
    for parameter in sorted(parameters):
        readings = set()
        for _ in range(2):  # the second round: every value again, now remembered where it is plain
            for value in VALUES:
                kwargs = {"model": "m-memo", parameter: value}
                expected = _read(plain, kwargs)
                assert _read(remembering, kwargs) == expected, (parameter, value)
                readings.add(repr(expected))
        differing += len(readings) > 1
    assert differing >= 8  # the values do tell the parameters a reader reads apart


def test_a_parameter_left_out_of_the_key_would_read_stale() -> None:
    """What the check above guards against, shown: a table keyed without ``temperature``."""
    careless = requests.remembered(requests._read_chat_request, ("model",))
    first = _read(careless, {"model": "m", "temperature": 0.5})
    second = _read(careless, {"model": "m", "temperature": 0.7})
    assert second == first  # stale
    assert _read(requests._read_chat_request, {"model": "m", "temperature": 0.7}) != first


def test_equal_values_of_other_types_are_told_apart() -> None:
    readings = [
        _read(requests.read_chat_request, {"model": "m", "n": value, "temperature": value})
        for value in (1, 1.0, True, 1, True)
    ]
    assert readings[0] == readings[3] and readings[2] == readings[4]
    assert readings[0][2] == {"gen_ai.request.temperature": 1.0}  # n=1 is the default: not recorded
    assert readings[1][2] == {"gen_ai.request.temperature": 1.0}
    assert readings[2][2] == {}  # True is neither a count nor a temperature


def test_only_plain_values_are_remembered_and_the_table_is_bounded() -> None:
    reader = requests.remembered(requests._read_chat_request, ("model", "stop", "temperature"))
    table = reader.table  # type: ignore[attr-defined]
    _read(reader, {"model": "m", "stop": ["a"]})  # a list: read each time, not kept
    _read(reader, {"model": "m", "temperature": Answer})  # not a plain value either
    assert table == {}
    _read(reader, {"model": "m", "stop": openai.NOT_GIVEN, "temperature": 0.2})
    assert len(table) == 1
    for index in range(requests.REMEMBERED_PER_READER * 2 + 10):
        _read(reader, {"model": f"m-{index}"})
        assert len(table) <= requests.REMEMBERED_PER_READER
    assert _read(reader, {"model": "m-7", "temperature": 0.2}) == (
        "m-7",
        False,
        {"gen_ai.request.temperature": 0.2},
    )

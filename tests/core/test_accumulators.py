"""Every endpoint that streams folds its stream through one declared contract (``Accumulator``)."""

from __future__ import annotations

from tracewrap.endpoints import CONNECT_PATHS, KNOWN_PATHS
from tracewrap.normalize.accumulator import Accumulator
from tracewrap.normalize.chat import ChatStreamAccumulator
from tracewrap.normalize.media import MediaStreamAccumulator
from tracewrap.normalize.realtime import RealtimeAccumulator
from tracewrap.normalize.responses import ResponsesStreamAccumulator
from tracewrap.record import CallRecord


def _streaming_endpoints() -> dict[str, object]:
    endpoints = {path: endpoint for path, (endpoint, _method) in KNOWN_PATHS.items()}
    endpoints.update(CONNECT_PATHS)
    return {path: e.new_accumulator for path, e in endpoints.items() if e.new_accumulator is not None}


def test_the_four_accumulators_are_the_streaming_endpoints_factories() -> None:
    factories = set(_streaming_endpoints().values())
    assert factories == {
        ChatStreamAccumulator,
        ResponsesStreamAccumulator,
        MediaStreamAccumulator,
        RealtimeAccumulator,
    }
    assert _streaming_endpoints()["chat.completions.create"] is ChatStreamAccumulator
    assert _streaming_endpoints()["realtime.connect"] is RealtimeAccumulator


def test_each_accumulator_keeps_the_protocol_and_an_empty_stream_is_unfinished() -> None:
    for factory in set(_streaming_endpoints().values()):
        for capture in (False, True):
            accumulator = factory(capture)
            assert isinstance(accumulator, Accumulator), factory
            record = CallRecord(operation="chat", api_type=None, provider="openai")
            accumulator.finish(record)
            assert accumulator.finished is False
            assert accumulator.final() is None
            assert record.finish_reasons is None


def test_something_else_is_not_an_accumulator() -> None:
    assert not isinstance(object(), Accumulator)
    assert not isinstance([], Accumulator)  # has no add / finish / finished / final


def test_output_text_is_text_then_refusal_or_transcript() -> None:
    """Responses and realtime share one reader of output items: a Responses part without text gives
    its refusal, a realtime audio part its transcript; a function call is a tool call."""
    from tracewrap.normalize.realtime import read_realtime_response
    from tracewrap.normalize.responses import read_response
    from tracewrap.record import CallRecord

    def message(*content: dict[str, str]) -> dict[str, object]:
        return {"type": "message", "role": "assistant", "content": list(content)}

    call = {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"}
    realtime = CallRecord(operation="realtime", api_type=None, provider="openai")
    read_realtime_response(
        {
            "id": "r1",
            "status": "completed",
            "output": [message({"type": "output_audio", "transcript": "Hi there"}), call],
        },
        realtime,
        capture_content=True,
    )
    assert realtime.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Hi there"},
                {"type": "tool_call", "id": "c1", "name": "lookup", "arguments": "{}"},
            ],
            "finish_reason": "tool_calls",
        }
    ]
    responses = CallRecord(operation="chat", api_type="responses", provider="openai")
    read_response(
        {
            "id": "resp_1",
            "status": "completed",
            "output": [
                message({"type": "refusal", "refusal": "I can't"}, {"type": "audio", "transcript": "x"})
            ],
        },
        responses,
        capture_content=True,
    )
    assert responses.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "I can't"}], "finish_reason": "stop"}
    ]

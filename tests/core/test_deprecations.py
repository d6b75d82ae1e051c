"""The SDK's deprecation warnings name the same line traced as bare (``interception/deprecation.py``).

``audio.translations.create`` and ``images.create_variation`` carry ``typing_extensions.deprecated``
in openai 3.x; traced, the warning would otherwise name tracewrap's wrapper, where Python's default
filters hide it. Real SDK over HTTP against the fake server; bare and traced calls are made from the
same line, so their warnings must agree field by field.
"""

from __future__ import annotations

import asyncio
import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
import typing_extensions

import tracewrap
from tracewrap.interception.deprecation import deprecation_of

from .helpers import API_KEY, attrs

AUDIO = ("clip.wav", b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav")
IMAGE = ("cat.png", b"\x89PNG\r\n\x1a\n", "image/png")
# which of the two this SDK marks deprecated (openai 3.x: both)
TRACEWRAP_SRC = str(Path(tracewrap.__file__).parent)
MARKED = {
    "translation": deprecation_of(openai.resources.audio.Translations.create) is not None,
    "variation": deprecation_of(openai.resources.Images.create_variation) is not None,
}

Seen = list[tuple[type[Warning], str, str, int]]


def _translate(client: Any) -> Any:
    return client.audio.translations.create(model="whisper-1", file=AUDIO)


def _vary(client: Any) -> Any:
    return client.images.create_variation(image=IMAGE, model="dall-e-2")


def _raw_translate(client: Any) -> Any:
    return client.audio.translations.with_raw_response.create(model="whisper-1", file=AUDIO).parse()


async def _translate_async(client: Any) -> Any:
    return await client.audio.translations.create(model="whisper-1", file=AUDIO)


def _seen(call: Callable[[], Any]) -> Seen:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")  # an unclosed socket's ResourceWarning is no concern here
        warnings.simplefilter("always", DeprecationWarning)
        call()
    return [(w.category, str(w.message), w.filename, w.lineno) for w in caught]


def _client(server: Any, is_async: bool = False) -> Any:
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return cls(base_url=server.base_url, api_key=API_KEY, max_retries=0)


@pytest.mark.parametrize("how", ["client", "module"])
@pytest.mark.parametrize(
    ("kind", "make_call"),
    [("translation", _translate), ("variation", _vary), ("translation", _raw_translate)],
)
def test_a_deprecated_method_warns_once_at_the_callers_line(server, telemetry, how, kind, make_call) -> None:
    bare = _seen(lambda: make_call(_client(server)))
    if how == "module":
        tracewrap.wrap(openai, **telemetry.wrap_kwargs())
        traced_client = _client(server)
    else:
        traced_client = tracewrap.wrap(_client(server), **telemetry.wrap_kwargs())
    traced = _seen(lambda: make_call(traced_client))

    assert traced == bare
    if MARKED[kind]:
        ((category, _message, filename, _line),) = traced
        assert issubclass(category, DeprecationWarning)
        # the line in this file that called the SDK (the raw wrapper's line when through it, as bare)
        assert filename == (__file__ if make_call is not _raw_translate else bare[0][2])
        assert not filename.startswith(TRACEWRAP_SRC)
    (span,) = telemetry.spans()
    assert attrs(span)["openai.api.type"] == ("audio.translations" if kind == "translation" else "images")


@pytest.mark.parametrize("how", ["client", "module"])
def test_an_awaited_deprecated_method_warns_once_at_the_awaiting_line(server, telemetry, how) -> None:
    bare = _seen(lambda: asyncio.run(_translate_async(_client(server, is_async=True))))
    if how == "module":
        tracewrap.wrap(openai, **telemetry.wrap_kwargs())
        traced_client = _client(server, is_async=True)
    else:
        traced_client = tracewrap.wrap(_client(server, is_async=True), **telemetry.wrap_kwargs())
    traced = _seen(lambda: asyncio.run(_translate_async(traced_client)))

    assert traced == bare
    assert len(traced) == (1 if MARKED["translation"] else 0)
    assert all(filename == __file__ for _category, _message, filename, _line in traced)
    (span,) = telemetry.spans()
    assert attrs(span)["openai.api.type"] == "audio.translations"


def _warned_before_awaiting(client: Any) -> Seen:
    """The warnings an async deprecated call gives when called, before anything awaits it."""

    async def call_then_await() -> Seen:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", DeprecationWarning)
            pending = client.audio.translations.create(model="whisper-1", file=AUDIO)
            when_called = [(w.category, str(w.message), w.filename, w.lineno) for w in caught]
        await pending
        return when_called

    return asyncio.run(call_then_await())


@pytest.mark.parametrize("how", ["client", "module"])
def test_an_async_deprecated_method_warns_when_called_as_bare(server, telemetry, how) -> None:
    bare = _warned_before_awaiting(_client(server, is_async=True))
    if how == "module":
        tracewrap.wrap(openai, **telemetry.wrap_kwargs())
        traced_client = _client(server, is_async=True)
    else:
        traced_client = tracewrap.wrap(_client(server, is_async=True), **telemetry.wrap_kwargs())
    traced = _warned_before_awaiting(traced_client)

    assert traced == bare
    assert len(traced) == (1 if MARKED["translation"] else 0)
    (span,) = telemetry.spans()  # awaited: traced as any call
    assert attrs(span)["openai.api.type"] == "audio.translations"


def test_only_the_markers_shape_is_taken_apart() -> None:
    def original(self: Any, x: int) -> int:
        return x

    loud = typing_extensions.deprecated("use another", category=FutureWarning, stacklevel=2)(original)
    found = deprecation_of(loud)
    assert found is not None
    assert (found.message, found.category, found.stacklevel) == ("use another", FutureWarning, 2)
    assert found.undecorated is original

    class Resource:
        method = loud

    assert deprecation_of(Resource().method).undecorated is original  # a bound method: its function
    # a marker that warns nothing returns the function itself: nothing to take apart
    assert deprecation_of(typing_extensions.deprecated("quiet", category=None)(lambda: 1)) is None

    @functools.wraps(original)
    def lookalike(*args: Any, **kwargs: Any) -> Any:  # __deprecated__ but not the marker's closure
        return original(*args, **kwargs)

    lookalike.__deprecated__ = "no"  # type: ignore[attr-defined]
    assert deprecation_of(lookalike) is None
    assert deprecation_of(original) is None

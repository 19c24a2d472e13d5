"""The matrix through the clients: ``generate(stream=True)`` consumed, and ``stream=False``,
with ``Client`` (``client``, ``client_once``) and ``AsyncClient`` (``async``, ``async_once``)."""

from __future__ import annotations

from typing import Any

import pytest
from cases import CHAT_MODEL, PROMPT, Case, Env, cases_for, check_line

from ollama_nb import AsyncClient, Client


def _bad_host(case: Case, target: Any, layer: str, make: type) -> bool:
    """A bad host is an error at construction, before any request: check it there."""
    expected = case.error_for(layer)
    if expected is None or not issubclass(expected, ValueError):
        return False
    with pytest.raises(expected) as info:
        make(target.host, timeout=target.timeout)
    check_line(info.value.message, case, layer)  # type: ignore[attr-defined]
    return True


def _check_stream_error(case: Case, error: BaseException, stream: Any, layer: str, env: Env) -> None:
    check_line(error.message, case, layer)  # type: ignore[attr-defined]
    assert repr(error).count("\n") == 0
    partial = getattr(error, "partial", None)
    if case.partial:
        assert partial is not None and partial.response, "the partial answer was lost"
        assert stream is not None and stream.text == partial.response
        assert not partial.done
    if stream is not None:
        assert stream.closed


def _check_finished(case: Case, env: Env) -> None:
    if case.partial:  # the server saw the client leave or finish; nothing kept open
        assert all(r.status is not None for r in env.sandbox.requests)


@pytest.mark.parametrize("case", cases_for("client"))
def test_stream(case: Case, env: Env) -> None:
    target = case.make(env, CHAT_MODEL)
    if _bad_host(case, target, "client", Client):
        return
    expected = case.error_for("client")
    with Client(target.host, timeout=target.timeout) as client:
        model = target.model or CHAT_MODEL
        if expected is None:
            with client.generate(model, PROMPT, stream=True) as stream:
                answer = stream.result()
            assert answer.done and answer.response
            assert stream.closed
            return
        stream = None
        with pytest.raises(expected) as info:
            stream = client.generate(model, PROMPT, stream=True)
            with stream:
                for _chunk in stream:
                    pass
        _check_stream_error(case, info.value, stream, "client", env)
    _check_finished(case, env)


@pytest.mark.asyncio
@pytest.mark.parametrize("case", cases_for("async"))
async def test_stream_async(case: Case, env: Env) -> None:
    target = case.make(env, CHAT_MODEL)
    if _bad_host(case, target, "async", AsyncClient):
        return
    expected = case.error_for("async")
    async with AsyncClient(target.host, timeout=target.timeout) as client:
        model = target.model or CHAT_MODEL
        if expected is None:
            async with await client.generate(model, PROMPT, stream=True) as stream:
                answer = await stream.aresult()
            assert answer.done and answer.response
            assert stream.closed
            return
        stream = None
        with pytest.raises(expected) as info:
            stream = await client.generate(model, PROMPT, stream=True)
            async with stream:
                async for _chunk in stream:
                    pass
        _check_stream_error(case, info.value, stream, "async", env)
    _check_finished(case, env)


@pytest.mark.parametrize("case", cases_for("client_once"))
def test_once(case: Case, env: Env) -> None:
    target = case.make(env, CHAT_MODEL)
    if _bad_host(case, target, "client_once", Client):
        return
    expected = case.error_for("client_once")
    with Client(target.host, timeout=target.timeout) as client:
        model = target.model or CHAT_MODEL
        if expected is None:
            assert client.generate(model, PROMPT).response
            return
        with pytest.raises(expected) as info:
            client.generate(model, PROMPT)
        check_line(info.value.message, case, "client_once")  # type: ignore[attr-defined]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", cases_for("async_once"))
async def test_once_async(case: Case, env: Env) -> None:
    target = case.make(env, CHAT_MODEL)
    if _bad_host(case, target, "async_once", AsyncClient):
        return
    expected = case.error_for("async_once")
    async with AsyncClient(target.host, timeout=target.timeout) as client:
        model = target.model or CHAT_MODEL
        if expected is None:
            assert (await client.generate(model, PROMPT)).response
            return
        with pytest.raises(expected) as info:
            await client.generate(model, PROMPT)
        check_line(info.value.message, case, "async_once")  # type: ignore[attr-defined]

"""The matrix through the client: ``generate(stream=True)`` consumed, and ``stream=False``."""

from __future__ import annotations

from typing import Any

import pytest
from cases import CHAT_MODEL, PROMPT, Case, Env, cases_for, check_line

from ollama_nb import Client


def _client(target: Any) -> Client:
    return Client(target.host, timeout=target.timeout)


@pytest.mark.parametrize("case", cases_for("client"))
def test_stream(case: Case, env: Env) -> None:
    target = case.make(env, CHAT_MODEL)
    expected = case.error_for("client")
    if expected is not None and issubclass(expected, ValueError):  # bad host: at construction
        with pytest.raises(expected) as info:
            _client(target)
        check_line(info.value.message, case, "client")  # type: ignore[attr-defined]
        return
    with _client(target) as client:
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
        error = info.value
        check_line(error.message, case, "client")  # type: ignore[attr-defined]
        assert repr(error).count("\n") == 0
        partial = getattr(error, "partial", None)
        if case.partial:
            assert partial is not None and partial.response, "the partial answer was lost"
            assert stream is not None and stream.text == partial.response
            assert not partial.done
        if stream is not None:
            assert stream.closed
    if case.partial:  # the server saw the client leave or finish; nothing kept open
        assert all(r.status is not None for r in env.sandbox.requests)


@pytest.mark.parametrize("case", cases_for("client_once"))
def test_once(case: Case, env: Env) -> None:
    target = case.make(env, CHAT_MODEL)
    expected = case.error_for("client_once")
    if expected is not None and issubclass(expected, ValueError):
        with pytest.raises(expected) as info:
            _client(target)
        check_line(info.value.message, case, "client_once")  # type: ignore[attr-defined]
        return
    with _client(target) as client:
        model = target.model or CHAT_MODEL
        if expected is None:
            assert client.generate(model, PROMPT).response
            return
        with pytest.raises(expected) as info:
            client.generate(model, PROMPT)
        check_line(info.value.message, case, "client_once")  # type: ignore[attr-defined]

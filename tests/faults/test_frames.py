"""The matrix through the DataFrame layer: ``embed`` and ``map_prompts``.

``embed`` raises the client's typed error (one line). ``map_prompts`` stops at once when
every row would fail the same way (server unreachable or wrong, unknown model, bad host)
and otherwise keeps the finished rows and marks the failed ones ``[error] <message>``.
"""

from __future__ import annotations

import warnings

import pytest
from cases import CHAT_MODEL, EMBED_MODEL, Case, Env, cases_for, check_line

import ollama_nb as onb
from ollama_nb.client._errors import (
    ConnectError,
    InvalidArgumentError,
    ModelNotFoundError,
    OllamaError,
)
from ollama_nb.frames._batch import MapPromptsWarning

TEXTS = ["the sea is blue", "the sky is grey", "rivers run to the sea"]


def _timeout_client(target: object) -> object:
    from ollama_nb import Client

    return Client(target.host, timeout=target.timeout)  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", cases_for("embed"))
def test_embed(case: Case, env: Env) -> None:
    target = case.make(env, EMBED_MODEL)
    model = target.model or EMBED_MODEL
    expected = case.error_for("embed")
    if expected is not None and issubclass(expected, ValueError):
        with pytest.raises(expected) as info:
            onb.embed(TEXTS, model=model, host=target.host)
        check_line(info.value.message, case, "embed")  # type: ignore[attr-defined]
        return
    client = _timeout_client(target)
    try:
        if expected is None:
            frame = onb.embed(TEXTS, model=model, client=client)
            assert frame.shape[0] == 3 and frame.notna().all().all()
            return
        with pytest.raises(OllamaError) as info:
            onb.embed(TEXTS, model=model, client=client, batch_size=1)  # the fetch thread path
        assert isinstance(info.value, expected), repr(info.value)
        check_line(info.value.message, case, "embed")
    finally:
        client.close()  # type: ignore[attr-defined]


_STOPS = (ConnectError, ModelNotFoundError, InvalidArgumentError)


@pytest.mark.parametrize("case", cases_for("map_prompts"))
def test_map_prompts(case: Case, env: Env) -> None:
    target = case.make(env, CHAT_MODEL)
    model = target.model or CHAT_MODEL
    expected = case.error_for("map_prompts")
    if expected is not None and issubclass(expected, ValueError):
        with pytest.raises(expected) as info:
            onb.map_prompts(TEXTS, "Say: {{text}}", model=model, host=target.host, cache=False)
        check_line(info.value.message, case, "map_prompts")  # type: ignore[attr-defined]
        return
    client = _timeout_client(target)
    try:
        if expected is None:
            answers = onb.map_prompts(TEXTS, "Say: {{text}}", model=model, client=client,
                                      cache=False, progress=False)
            assert answers.notna().all() and not answers.str.startswith("[error]").any()
            return
        if issubclass(expected, _STOPS):
            with pytest.raises(expected) as info:
                onb.map_prompts(TEXTS, "Say: {{text}}", model=model, client=client, cache=False,
                                progress=False)
            check_line(info.value.message, case, "map_prompts")  # type: ignore[attr-defined]
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            answers = onb.map_prompts(TEXTS, "Say: {{text}}", model=model, client=client,
                                      cache=False, progress=False, concurrency=2)
        assert answers.attrs["failed"] == len(TEXTS)
        for cell in answers:
            assert cell.startswith("[error] ")
            check_line(cell.removeprefix("[error] "), case, "map_prompts")
        assert any(issubclass(w.category, MapPromptsWarning) for w in caught)
    finally:
        client.close()  # type: ignore[attr-defined]


def test_map_prompts_keeps_finished_rows_when_one_row_fails(env: Env) -> None:
    """A fault on one request: the other rows are answered and the failed row says why."""
    env.sandbox.inject("error", model=CHAT_MODEL, times=1, status=503,
                       message="server busy, please try again.  maximum pending requests exceeded")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answers = onb.map_prompts(TEXTS, "Say: {{text}}", model=CHAT_MODEL, cache=False,
                                  progress=False, concurrency=1)
    failed = answers[answers.str.startswith("[error]")]
    assert len(failed) == 1 and "503" in failed.iloc[0] and "server busy" in failed.iloc[0]
    assert answers.notna().all() and answers.attrs["failed"] == 1
    assert any("1 of 3 rows failed" in str(w.message) for w in caught)

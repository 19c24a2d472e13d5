"""The official ``openai`` SDK against the sandbox's OpenAI-compatible /v1 endpoints, as
Ollama's docs tell people to use it: every endpoint, streamed and not, tools, structured
output, images, reasoning, logprobs, errors and injected faults."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import openai
import pytest
from pydantic import BaseModel
from sample_tools import TIME, WEATHER
from sandbox_raw import raw_request

# the 1x1 PNG the Ollama docs' vision examples start with would do; any real PNG is fine
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)).decode()


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture
def client(ollama_sandbox, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "*")  # loopback, whatever proxy the environment names
    with openai.OpenAI(base_url=ollama_sandbox.url + "/v1/", api_key="ollama",
                       max_retries=0) as c:
        yield c


def _native_chat(url, **body):
    return raw_request(url, "POST", "/api/chat", {"stream": False, **body}).json()


USER = [{"role": "user", "content": "Why is the sky blue?"}]


# --- models --------------------------------------------------------------------------------


def test_models_list_and_retrieve(client, ollama_sandbox):
    models = list(client.models.list())
    tags = raw_request(ollama_sandbox.url, "GET", "/api/tags").json()["models"]
    assert [m.id for m in models] == [t["model"] for t in tags]
    assert {m.owned_by for m in models} == {"library"} and {m.object for m in models} == {"model"}
    one = client.models.retrieve("llama3.2")
    assert (one.id, one.owned_by) == ("llama3.2", "library")
    listed = next(m for m in models if m.id == "llama3.2:latest")
    assert one.created == listed.created  # from the same modified_at
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("no-such-model")
    assert err.value.body == {"message": "model 'no-such-model:latest' not found",
                              "type": "not_found_error", "param": None, "code": None}


# --- chat completions -----------------------------------------------------------------------


def test_chat_is_the_native_answer_translated(client, ollama_sandbox):
    reply = client.chat.completions.create(model="llama3.2", messages=USER)
    # the middleware sends temperature and top_p 1.0 unless the request says otherwise
    native = _native_chat(ollama_sandbox.url, model="llama3.2", messages=USER,
                          options={"temperature": 1.0, "top_p": 1.0})
    choice = reply.choices[0]
    assert choice.message.content == native["message"]["content"]
    assert (choice.message.role, choice.finish_reason, choice.index) == ("assistant", "stop", 0)
    assert reply.usage.prompt_tokens == native["prompt_eval_count"]
    assert reply.usage.completion_tokens == native["eval_count"]
    assert reply.usage.total_tokens == native["prompt_eval_count"] + native["eval_count"]
    assert reply.id.startswith("chatcmpl-") and reply.object == "chat.completion"
    assert (reply.model, reply.system_fingerprint) == ("llama3.2", "fp_ollama")


def test_chat_stream_with_usage(client):
    whole = client.chat.completions.create(model="llama3.2", messages=USER, seed=3)
    chunks = list(client.chat.completions.create(
        model="llama3.2", messages=USER, seed=3, stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    finish, usage = chunks[-2], chunks[-1]
    assert finish.choices[0].finish_reason == "stop"
    assert finish.choices[0].delta.content is None and finish.usage is None
    assert usage.choices == [] and usage.usage == whole.usage
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1


def test_reasoning_effort_controls_thinking(client):
    thought = client.chat.completions.create(model="qwen3", messages=USER)
    assert thought.choices[0].message.model_extra["reasoning"]
    plain = client.chat.completions.create(model="qwen3", messages=USER, reasoning_effort="none")
    assert "reasoning" not in plain.choices[0].message.model_extra
    chunks = list(client.chat.completions.create(model="qwen3", messages=USER, stream=True,
                                                 reasoning_effort="high"))
    kinds = ["reasoning" if (c.choices[0].delta.model_extra or {}).get("reasoning") else
             "content" if c.choices[0].delta.content else "-" for c in chunks]
    assert kinds.index("content") > kinds.index("reasoning")
    assert "reasoning" not in kinds[kinds.index("content"):]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="llama3.2", messages=USER, reasoning_effort="high")
    assert err.value.body["message"] == '"llama3.2" does not support thinking'
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="qwen3", messages=USER,
                                       extra_body={"reasoning_effort": "enormous"})
    assert err.value.body["message"].startswith('invalid reasoning value: "enormous"')


def test_tools_and_tool_results(client):
    ask = [{"role": "user", "content": "What is the weather in Paris and the time in Tokyo?"}]
    reply = client.chat.completions.create(model="llama3.2", messages=ask, tools=[WEATHER, TIME])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"city": "Tokyo"})]
    assert all(c.type == "function" and c.id for c in calls)
    results = [{"role": "tool", "tool_call_id": calls[0].id, "content": "18 degrees and sunny"},
               {"role": "tool", "tool_call_id": calls[1].id, "content": "9 pm"}]
    answer = client.chat.completions.create(
        model="llama3.2", tools=[WEATHER, TIME],
        messages=ask + [choice.message.model_dump(exclude_none=True)] + results)
    text = answer.choices[0].message.content
    # the tool's name comes from the call the result answers (nameFromToolCallID)
    assert "get_time tool" in text and "9 pm" in text
    assert answer.choices[0].finish_reason == "stop"


def test_tool_calls_streamed(client):
    chunks = list(client.chat.completions.create(
        model="qwen3", stream=True, tools=[WEATHER], reasoning_effort="none",
        messages=[{"role": "user", "content": "Weather in Oslo and Rome?"}]))
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert [json.loads(t.function.arguments)["city"] for t in calls] == ["Oslo", "Rome"]
    assert [t.index for t in calls] == [0, 1]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tools_on_a_model_without_them(client, ollama_sandbox):
    ollama_sandbox.install("gemma3:1b")
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="gemma3:1b", messages=USER, tools=[WEATHER])
    assert err.value.body == {"message": "registry.ollama.ai/library/gemma3:1b does not support "
                                         "tools", "type": "invalid_request_error",
                              "param": None, "code": None}


def test_json_object_and_json_schema(client):
    reply = client.chat.completions.create(
        model="llama3.2", response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Give JSON with keys name and age for Ada "
                                              "Lovelace, who is 36."}])
    assert json.loads(reply.choices[0].message.content) == {"name": "Ada Lovelace", "age": 36}
    parsed = client.chat.completions.parse(
        model="llama3.2", response_format=Person,
        messages=[{"role": "user", "content": "Ada Lovelace is 36 years old."}])
    assert parsed.choices[0].message.parsed == Person(name="Ada Lovelace", age=36)


def test_images_as_data_urls(client):
    content = [{"type": "text", "text": "What is in this image?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]
    reply = client.chat.completions.create(model="llama3.2",
                                           messages=[{"role": "user", "content": content}])
    assert "1 image" in reply.choices[0].message.content
    for url, message in [("https://example.com/cat.png", "image URLs are not currently "
                          "supported, please use base64 encoded data instead"),
                         ("data:image/gif;base64," + PNG, "invalid image input"),
                         ("data:image/png;base64,@@@", "invalid image input")]:
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="llama3.2", messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": url}}]}])
        assert err.value.body["message"] == message


def test_logprobs(client):
    reply = client.chat.completions.create(model="llama3.2", messages=USER, logprobs=True,
                                           top_logprobs=3, max_tokens=8)
    entries = reply.choices[0].logprobs.content
    assert "".join(e.token for e in entries) == reply.choices[0].message.content
    assert all(len(e.top_logprobs) == 3 and e.top_logprobs[0].token == e.token for e in entries)
    streamed = [e for c in client.chat.completions.create(
        model="llama3.2", messages=USER, logprobs=True, max_tokens=8, stream=True)
        if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert [e.token for e in streamed] == [e.token for e in entries]


def test_max_tokens_and_stop(client):
    reply = client.chat.completions.create(model="llama3.2", messages=USER, max_tokens=4)
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 4
    full = client.chat.completions.create(model="llama3.2", messages=USER).choices[0]
    word = full.message.content.split()[2]
    stopped = client.chat.completions.create(model="llama3.2", messages=USER, stop=[word])
    assert word not in stopped.choices[0].message.content


def test_chat_errors(client, ollama_sandbox):
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="nope", messages=USER)
    assert err.value.body == {"message": "model 'nope' not found", "type": "not_found_error",
                              "param": None, "code": None}
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="llama3.2", messages=[])
    assert err.value.body["message"] == "[] is too short - 'messages'"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="", messages=USER)
    assert err.value.body["message"] == "model is required"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="llama3.2", messages=[{"role": "user"}])
    assert err.value.body["message"] == "invalid message content type: <nil>"


# --- completions ------------------------------------------------------------------------------


def test_completions_whole_and_streamed(client, ollama_sandbox):
    whole = client.completions.create(model="llama3.2", prompt="Why is the sky blue?")
    native = raw_request(ollama_sandbox.url, "POST", "/api/generate", {
        "model": "llama3.2", "prompt": "Why is the sky blue?", "stream": False,
        "options": {"temperature": 1.0, "top_p": 1.0, "frequency_penalty": 0,
                    "presence_penalty": 0}}).json()
    assert whole.choices[0].text == native["response"]
    assert whole.object == "text_completion" and whole.id.startswith("cmpl-")
    assert whole.choices[0].finish_reason == "stop"
    chunks = list(client.completions.create(model="llama3.2", prompt="Why is the sky blue?",
                                            stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert all(c.usage.total_tokens == 0 for c in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage


def test_completions_suffix_needs_insert(client, ollama_sandbox):
    ollama_sandbox.install("qwen2.5-coder:1.5b")
    reply = client.completions.create(model="qwen2.5-coder:1.5b", prompt="def add(a, b):",
                                      suffix="    return result", max_tokens=16)
    assert reply.choices[0].text
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="qwen3", prompt="def f(", suffix=")")
    assert err.value.body["message"] == ("registry.ollama.ai/library/qwen3:latest does not "
                                         "support insert")


# --- embeddings -------------------------------------------------------------------------------


@pytest.mark.ollama_sandbox(minilm=False)
def test_embeddings(client, ollama_sandbox):
    texts = ["the cat sat on the mat", "a cat on a mat", "stock prices fell"]
    native = raw_request(ollama_sandbox.url, "POST", "/api/embed",
                         {"model": "nomic-embed-text", "input": texts}).json()
    # the SDK asks for base64 and decodes it; floats must be the same float32 values
    decoded = client.embeddings.create(model="nomic-embed-text", input=texts)
    floats = client.embeddings.create(model="nomic-embed-text", input=texts,
                                      encoding_format="float")
    want = np.asarray(native["embeddings"], dtype=np.float32)
    assert np.array_equal(np.asarray([d.embedding for d in decoded.data], dtype=np.float32), want)
    assert np.array_equal(np.asarray([d.embedding for d in floats.data], dtype=np.float32), want)
    assert [d.index for d in floats.data] == [0, 1, 2]
    assert floats.usage.prompt_tokens == native["prompt_eval_count"] == floats.usage.total_tokens
    one = client.embeddings.create(model="nomic-embed-text", input="hello", dimensions=64)
    assert len(one.data) == 1 and len(one.data[0].embedding) == 64
    assert np.isclose(np.linalg.norm(one.data[0].embedding), 1, atol=1e-6)
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="nomic-embed-text", input=[])
    assert err.value.body["message"] == "invalid input"
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="nomic-embed-text", input="x",
                                 extra_body={"encoding_format": "hex"})
    assert "Supported values: ['float', 'base64']" in err.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nope", input="x")


# --- responses --------------------------------------------------------------------------------


def test_responses_whole_and_streamed(client):
    whole = client.responses.create(model="qwen3", input="Write a short poem about blue",
                                    instructions="You are a poet.")
    assert whole.status == "completed" and whole.output_text
    assert [item.type for item in whole.output] == ["reasoning", "message"]
    assert whole.instructions == "You are a poet." and whole.usage.total_tokens > 0
    events = list(client.responses.create(model="qwen3", input="Write a short poem about blue",
                                          instructions="You are a poet.", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == whole.output_text == events[-1].response.output_text


def test_responses_tools_and_outputs(client):
    tools = [{"type": "function", "name": "get_weather", "description": "Weather in a city",
              "parameters": WEATHER["function"]["parameters"]}]
    first = client.responses.create(model="llama3.2", input="What's the weather in Paris?",
                                    tools=tools)
    call = next(item for item in first.output if item.type == "function_call")
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})
    second = client.responses.create(model="llama3.2", tools=tools, input=[
        {"role": "user", "content": "What's the weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "21 degrees"}])
    assert "21 degrees" in second.output_text


def test_responses_structured_output(client):
    parsed = client.responses.parse(model="llama3.2", input="Ada Lovelace is 36 years old.",
                                    text_format=Person)
    assert parsed.output_parsed == Person(name="Ada Lovelace", age=36)


def test_responses_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="nope", input="hi")
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="llama3.2", input="hi", tools=[{"type": "web_search"}])
    assert "does not serve web search" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="llama3.2", input=[{"type": "bogus"}])
    assert err.value.body["message"] == 'input[0]: unknown input item type: "bogus"'


# --- faults and the request log through /v1 -----------------------------------------------------


def test_faults_apply_through_v1(client, ollama_sandbox):
    ollama_sandbox.inject("error", status=503, message="server busy", times=1)
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="llama3.2", messages=USER)
    assert err.value.status_code == 503
    assert err.value.body == {"message": "server busy", "type": "api_error", "param": None,
                              "code": None}
    ollama_sandbox.inject("drop_after", n=3, times=1)
    with pytest.raises(openai.APIConnectionError):
        list(client.chat.completions.create(model="llama3.2", messages=USER, stream=True))
    record = ollama_sandbox.requests[-1]
    assert (record.path, record.model, record.faults) == ("/v1/chat/completions", "llama3.2",
                                                          ("drop_after",))
    headers = {"X-Sandbox-Fault": "error_after; n=4; message=boom"}
    chunks = list(client.chat.completions.create(model="llama3.2", messages=USER, stream=True,
                                                 extra_headers=headers))
    # as with a real Ollama: the error line becomes an empty chunk and the stream just ends
    assert chunks and all(c.choices[0].finish_reason is None for c in chunks)


def test_async_client_streams(ollama_sandbox, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "*")

    async def run():
        async with openai.AsyncOpenAI(base_url=ollama_sandbox.url + "/v1", api_key="x",
                                      max_retries=0) as client:
            stream = await client.chat.completions.create(model="llama3.2", messages=USER,
                                                          stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream])

    assert asyncio.run(run()).strip()

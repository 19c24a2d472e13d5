"""The official ``anthropic`` SDK against the sandbox's Anthropic-compatible /v1/messages,
as Ollama's docs tell people to use it (``base_url`` = the server, any API key)."""

from __future__ import annotations

import base64

import anthropic
import pytest
from sandbox_raw import raw_request

WEATHER = {"name": "get_weather", "description": "Get the current weather in a location",
           "input_schema": {"type": "object", "properties": {
               "location": {"type": "string", "description": "The city, e.g. Paris"}},
               "required": ["location"]}}
HI = [{"role": "user", "content": "Hello, how are you?"}]


@pytest.fixture
def client(ollama_sandbox, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "*")
    with anthropic.Anthropic(base_url=ollama_sandbox.url, api_key="ollama", max_retries=0) as c:
        yield c


def test_message_is_the_native_answer_translated(client, ollama_sandbox):
    message = client.messages.create(model="llama3.2", max_tokens=1024, messages=HI)
    native = raw_request(ollama_sandbox.url, "POST", "/api/chat", {
        "model": "llama3.2", "messages": HI, "stream": False,
        "options": {"num_predict": 1024}}).json()
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == native["message"]["content"]
    assert (message.role, message.type, message.model) == ("assistant", "message", "llama3.2")
    assert message.stop_reason == "end_turn" and message.id.startswith("msg_")
    assert message.usage.input_tokens == native["prompt_eval_count"]
    assert message.usage.output_tokens == native["eval_count"]


def test_system_prompts_and_conversation(client):
    one = client.messages.create(model="llama3.2", max_tokens=200, system="You are terse.",
                                 messages=HI)
    blocks = client.messages.create(model="llama3.2", max_tokens=200, messages=HI,
                                    system=[{"type": "text", "text": "You are terse."}])
    assert one.content[0].text == blocks.content[0].text  # both become the same system message
    turns = HI + [{"role": "assistant", "content": one.content[0].text},
                  {"role": "user", "content": "And tell me about volcanoes"}]
    assert "volcano" in client.messages.create(model="llama3.2", max_tokens=300,
                                               messages=turns).content[0].text.lower()


def test_streaming_events(client):
    whole = client.messages.create(model="qwen3", max_tokens=1024, messages=HI)
    with client.messages.stream(model="qwen3", max_tokens=1024, messages=HI) as stream:
        events = list(stream)
        final = stream.get_final_message()
    kinds = [e.type for e in events if e.type not in ("text", "thinking", "signature")]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    starts = [e.content_block.type for e in events if e.type == "content_block_start"]
    assert starts == ["thinking", "text"]
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[1].text == whole.content[1].text
    assert final.content[0].thinking == whole.content[0].thinking
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == whole.usage.output_tokens
    with client.messages.stream(model="llama3.2", max_tokens=1024,
                                messages=[{"role": "user", "content": "Count from 1 to 10"}]
                                ) as stream:
        assert "".join(stream.text_stream).strip()


def test_thinking_switch_and_models_without_it(client):
    off = client.messages.create(model="qwen3", max_tokens=500, messages=HI,
                                 thinking={"type": "disabled"})
    assert [b.type for b in off.content] == ["text"]
    # Ollama drops thinking for a model that cannot think instead of refusing the request
    relaxed = client.messages.create(model="llama3.2", max_tokens=500, messages=HI,
                                     thinking={"type": "enabled", "budget_tokens": 1024})
    assert [b.type for b in relaxed.content] == ["text"]


def test_tools_round_trip(client):
    ask = [{"role": "user", "content": "What's the weather in San Francisco?"}]
    first = client.messages.create(model="llama3.2", max_tokens=1024, tools=[WEATHER],
                                   messages=ask)
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert (use.name, use.input) == ("get_weather", {"location": "San Francisco"})
    second = client.messages.create(model="llama3.2", max_tokens=1024, tools=[WEATHER],
                                    messages=ask + [
                                        {"role": "assistant", "content": first.content},
                                        {"role": "user", "content": [
                                            {"type": "tool_result", "tool_use_id": use.id,
                                             "content": "15 degrees and foggy"}]}])
    assert second.stop_reason == "end_turn" and "15 degrees and foggy" in second.content[0].text
    with client.messages.stream(model="qwen3", max_tokens=1024, tools=[WEATHER],
                                messages=ask) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.input for b in final.content if b.type == "tool_use"] == [
        {"location": "San Francisco"}]


def test_images_and_limits(client):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 24).decode()
    message = client.messages.create(model="llama3.2", max_tokens=300, messages=[
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": png}},
            {"type": "text", "text": "What is in this image?"}]}])
    assert "1 image" in message.content[0].text
    short = client.messages.create(model="llama3.2", max_tokens=3, messages=HI)
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 3
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model="llama3.2", max_tokens=10, messages=[
            {"role": "user", "content": [{"type": "image", "source": {
                "type": "url", "url": "https://example.com/cat.png"}}]}])
    assert err.value.body["error"]["message"] == ("invalid image source type: url. Only base64 "
                                                  "images are supported.")


def test_errors_in_anthropic_shape(client, ollama_sandbox):
    with pytest.raises(anthropic.NotFoundError) as err:
        client.messages.create(model="nope", max_tokens=10, messages=HI)
    body = err.value.body
    assert body["type"] == "error" and body["request_id"].startswith("req_")
    assert body["error"] == {"type": "not_found_error", "message": "model 'nope' not found"}
    raw = raw_request(ollama_sandbox.url, "POST", "/v1/messages",
                      {"model": "llama3.2", "messages": HI})
    assert raw.status == 400
    assert raw.json()["error"] == {"type": "invalid_request_error",
                                   "message": "max_tokens is required and must be positive"}
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model="llama3.2", max_tokens=10, messages=HI,
                               tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert "does not serve web search" in err.value.body["error"]["message"]
    ollama_sandbox.inject("error", status=503, message="overloaded", times=1)
    with pytest.raises(anthropic.APIStatusError) as err:
        client.messages.create(model="llama3.2", max_tokens=10, messages=HI)
    assert err.value.status_code == 503
    assert err.value.body["error"] == {"type": "overloaded_error", "message": "overloaded"}

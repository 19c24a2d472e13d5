"""ChatBox without a browser: Enter or click sends, replies stream, Stop, clear, shared chats."""

from __future__ import annotations

from typing import Any

from hostile_server import HOSTILE_ANSWER, live_markup
from recording import Wire, frontend_event, frontend_update, wait_for

from ollama_nb.client._chat import chats
from ollama_nb.client._client import Client
from ollama_nb.widgets import ChatBox


def test_enter_sends_and_the_reply_streams_into_the_history(
    ollama_sandbox: Any, wire: Wire
) -> None:
    ollama_sandbox.token_delay = 0.01
    box = ChatBox("t1", model="llama3.2", client=Client(ollama_sandbox.url), interval=0.02)
    frontend_update(box.input, value="Why is the sky blue?")  # typing
    frontend_event(box.input, "submit")  # Enter
    assert box.input.value == "" and box.status == "running" and box.send_button.disabled
    box.future.result(timeout=10)

    assert box.status == "done" and not box.send_button.disabled and box.stop_button.disabled
    user_view, reply_view = box.history.children
    assert "Why is the sky blue?" in user_view.value
    messages = chats.get("t1").messages
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] and messages[1]["content"].split(".")[0] in reply_view.value
    # the reply was shown while it streamed: several updates of that one widget
    assert len(wire.updates(reply_view)) >= 3
    assert "tokens" in box._status.value
    frame = box.to_dataframe()
    assert list(frame["role"]) == ["user", "assistant"]
    assert frame["content"].iloc[1] == messages[1]["content"]
    assert repr(box) == "ChatBox(chat='t1', model='llama3.2:latest', 2 messages)"


def test_send_button_continues_the_conversation(ollama_sandbox: Any, wire: Wire) -> None:
    box = ChatBox("t2", model="llama3.2", client=Client(ollama_sandbox.url))
    box.send("First question about rivers").result(timeout=10)
    frontend_update(box.input, value="And lakes?")
    frontend_event(box.send_button, "click")
    box.future.result(timeout=10)
    request = ollama_sandbox.requests[-1]
    assert request.path == "/api/chat"
    assert [m["role"] for m in request.body["messages"]] == ["user", "assistant", "user"]
    assert len(box.history.children) == 4


def test_send_is_disabled_before_the_new_bubbles_reach_the_frontend(
        ollama_sandbox: Any, wire: Wire) -> None:
    # A frontend applies a Box's new children later than a plain trait (it has to resolve
    # the child models), so "Send disabled" must be on the wire first: whoever sees the
    # new bubbles (a person, a browser test) never finds Send still enabled for that turn.
    box = ChatBox("t2b", model="llama3.2", client=Client(ollama_sandbox.url))
    box.send("First question about rivers").result(timeout=10)
    wire.clear()
    box.send("And lakes?").result(timeout=10)
    sent = wire.messages()
    disabled = next(i for i, s in enumerate(sent) if s.comm_id == box.send_button.comm.comm_id
                    and s.data.get("state", {}).get("disabled") is True)
    grown = next(i for i, s in enumerate(sent) if s.comm_id == box.history.comm.comm_id
                 and len(s.data.get("state", {}).get("children", ())) == 4)
    assert disabled < grown


def test_system_prompt_and_options_go_with_the_request(ollama_sandbox: Any, wire: Wire) -> None:
    box = ChatBox(
        "t3",
        model="qwen3",
        client=Client(ollama_sandbox.url),
        think=True,
        options={"temperature": 0},
    )
    frontend_update(box.system_box, value="Answer like a pirate.")
    box.send("hello").result(timeout=10)
    body = ollama_sandbox.requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
    assert body["think"] is True and body["options"] == {"temperature": 0}
    assert len(box.history.children) == 2  # the system prompt is not a bubble
    thinking = chats.get("t3").messages[-1]["thinking"]
    assert thinking and "<details" in box.history.children[1].value


def test_a_reply_cut_by_num_predict_says_so_in_its_bubble(ollama_sandbox: Any, wire: Wire) -> None:
    # the status line shows the last reply's stats only, so a cut bubble carries its own note
    box = ChatBox("t3b", model="llama3.2", client=Client(ollama_sandbox.url),
                  options={"num_predict": 5})
    box.send("Tell me about rivers").result(timeout=10)
    box.request_options["options"] = None
    box.send("And lakes?").result(timeout=10)
    cut, whole = box.history.children[1].value, box.history.children[3].value
    assert "stopped at num_predict" in cut and "stopped at num_predict" not in whole
    assert ollama_sandbox.requests[-2].body["options"] == {"num_predict": 5}


def test_stop_ends_the_reply_and_keeps_the_partial_text(ollama_sandbox: Any, wire: Wire) -> None:
    ollama_sandbox.token_delay = 0.05
    box = ChatBox("t4", model="llama3.2", client=Client(ollama_sandbox.url), interval=0.02)
    future = box.send("Tell me a long story about mountains and the sea")
    reply_view = box.history.children[-1]
    wait_for(lambda: len(wire.updates(reply_view)) >= 2, what="a streamed update")
    assert not box.stop_button.disabled
    frontend_event(box.stop_button, "click")
    result = future.result(timeout=10)
    assert box.status == "stopped" and result.done is False
    wait_for(lambda: ollama_sandbox.requests[-1].disconnected, what="disconnect")
    assistant = chats.get("t4").messages[-1]
    assert assistant["role"] == "assistant" and assistant["content"] == result.message.content
    assert "stopped" in reply_view.value


def test_shares_the_conversation_with_the_magic_registry(ollama_sandbox: Any, wire: Wire) -> None:
    session = chats.get("shared")
    session.add("user", "Earlier question")
    session.add("assistant", "Earlier <b>answer</b>")
    session.model = "qwen3"
    box = ChatBox("shared", client=Client(ollama_sandbox.url))
    assert box.model == "qwen3:latest"  # the conversation's model
    assert len(box.history.children) == 2
    assert "Earlier &lt;b&gt;answer&lt;/b&gt;" in box.history.children[1].value
    box.send("Next one").result(timeout=10)
    assert len(session.messages) == 4  # the same object %%ollama --chat shared uses


def test_clear_forgets_but_keeps_the_system_prompt(ollama_sandbox: Any, wire: Wire) -> None:
    box = ChatBox("t5", model="llama3.2", system="Be brief.", client=Client(ollama_sandbox.url))
    box.send("hi").result(timeout=10)
    frontend_event(box.clear_button, "click")
    assert box.history.children == ()
    assert chats.get("t5").messages == [{"role": "system", "content": "Be brief."}]


def test_error_gives_the_message_back(wire: Wire) -> None:
    box = ChatBox("t6", model="llama3.2", client=Client("http://127.0.0.1:9"))
    future = box.send("are you there?")
    assert future.exception(timeout=10) is not None
    assert box.status == "error" and "Cannot reach Ollama" in box._status.value
    assert box.input.value == "are you there?" and box.history.children == ()
    assert chats.get("t6").messages == []


def test_hostile_reply_is_escaped(hostile: Any, wire: Wire) -> None:
    box = ChatBox("t7", model="evil", client=Client(hostile.url), interval=0.0)
    box.send("<script>alert('me')</script>").result(timeout=10)
    assert chats.get("t7").messages[-1]["content"] == HOSTILE_ANSWER
    values = wire.strings()
    assert any("&lt;script&gt;" in v for v in values)
    for value in values:
        assert live_markup(value) == [], value
    assert "<details" in box.history.children[-1].value  # thinking collapsed


def test_clear_while_a_reply_streams_keeps_nothing_of_it(ollama_sandbox: Any, wire: Wire) -> None:
    ollama_sandbox.token_delay = 0.05
    box = ChatBox("t8", model="llama3.2", client=Client(ollama_sandbox.url), interval=0.02)
    future = box.send("Tell me a long story about the sea")
    wait_for(lambda: len(wire.updates(box.history.children[-1])) >= 2, what="a streamed update")
    frontend_event(box.clear_button, "click")
    future.result(timeout=10)
    assert chats.get("t8").messages == [] and box.history.children == ()
    assert box.status == "idle" and not box.send_button.disabled


def test_model_defaults_to_the_session_default(ollama_sandbox: Any, wire: Wire) -> None:
    from ollama_nb.client._session import session

    session.set("model", "qwen3")
    box = ChatBox("t9", client=Client(ollama_sandbox.url))
    assert box.model == "qwen3:latest"
    session.set("model", "llama3.2")  # the box keeps its own choice afterwards
    assert box.model == "qwen3:latest"


def test_enter_while_a_reply_streams_is_queued_not_lost(ollama_sandbox: Any, wire: Wire) -> None:
    ollama_sandbox.token_delay = 0.02
    box = ChatBox("q", model="llama3.2", client=Client(ollama_sandbox.url), interval=0.02)
    try:
        first = box.send("Tell me about rivers")
        assert first is not None and box.status == "running"
        frontend_update(box.input, value="And about lakes?")
        frontend_event(box.input, "submit")  # Enter while the reply streams
        assert box.input.value == "" and "1 message queued" in box._status.value
        queued = box._queue[0][1]
        first.result(timeout=20)
        queued.result(timeout=20)  # sent by itself once the first reply ended
        roles = [m["role"] for m in chats.get("q").messages]
        assert roles == ["user", "assistant", "user", "assistant"]
        assert chats.get("q").messages[2]["content"] == "And about lakes?"
        wait_for(lambda: box.status == "done", what="the second reply")
        assert "queued" not in box._status.value
    finally:
        box.close()


def test_stop_gives_queued_text_back(ollama_sandbox: Any, wire: Wire) -> None:
    ollama_sandbox.token_delay = 0.05
    box = ChatBox("q2", model="llama3.2", client=Client(ollama_sandbox.url))
    try:
        first = box.send("Tell me a long story")
        queued = box.send("second question")
        assert queued is not None and not queued.done()
        box.stop()
        first.result(timeout=20)
        assert queued.cancelled() and box.input.value == "second question"
        assert [m["content"] for m in chats.get("q2").messages if m["role"] == "user"] == [
            "Tell me a long story"]
    finally:
        box.close()


def test_displaying_the_box_keeps_the_transcript_as_an_ordinary_output(
    ollama_sandbox: Any, wire: Wire, shell: Any
) -> None:
    """Widget state is not saved: the conversation is kept in a record output, updated per
    turn, hidden by the box's own stylesheet while the box is alive."""
    from IPython.display import display
    from IPython.utils.capture import capture_output

    box = ChatBox("rec", model="llama3.2", client=Client(ollama_sandbox.url))
    try:
        with capture_output() as cap:
            display(box)
            box.send("Why is the sky blue?").result(timeout=20)
            box.send("And the sunset red?").result(timeout=20)
        widget, record, *updates = cap.outputs
        assert "application/vnd.jupyter.widget-view+json" in widget.data
        assert widget.data["text/plain"].startswith("ChatBox(chat='rec')")  # true once saved
        assert "widget-view" not in str(record.data) and not record.update
        assert len(updates) == 2 and all(u.update for u in updates)
        assert {u.transient["display_id"] for u in updates} == {record.transient["display_id"]}
        final = updates[-1].data
        messages = chats.get("rec").messages
        for message in messages:
            assert message["content"][:30] in final["text/plain"]
        assert final["text/plain"].startswith("You: Why is the sky blue?")
        page = final["text/html"]
        assert page.count("ollama-nb-msg ") == 4 and live_markup(page) == []
        # hidden while the box is alive: the box's style rule names the record's class
        key = box._record.key
        assert f'class="ollama-nb-record {key}"' in page
        assert f".{key}{{display:none}}" in box._record.style.value
        assert box._record.style in box.children and box._record.style.layout.display == "none"
    finally:
        box.close()


def test_tools_run_and_the_calls_show_in_the_reply(ollama_sandbox: Any, wire: Wire) -> None:
    seen: list[str] = []

    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        seen.append(city)
        return f"<img src=x onerror=alert(1)> windy in {city}"

    ollama_sandbox.token_delay = 0.005
    box = ChatBox("tools1", model="llama3.2", client=Client(ollama_sandbox.url), interval=0.02,
                  tools=[get_weather])
    try:
        reply = box.send("What is the weather in Dublin?").result(timeout=20)
        assert seen == ["Dublin"] and box.status == "done"
        assert "windy in Dublin" in reply.message.content
        reply_view = box.history.children[-1]
        assert '<details class="ollama-nb-tool">' in reply_view.value
        assert "get_weather(city=&#x27;Dublin&#x27;)" in reply_view.value
        assert "<img" not in reply_view.value and "&lt;img src=x" in reply_view.value
        roles = [m["role"] for m in chats.get("tools1").messages]
        assert roles == ["user", "assistant", "tool", "assistant"]
        box._render_history()  # the stored conversation shows the call and the tool's result
        shown = [c.value for c in box.history.children]
        assert "🔧 get_weather(city=&#x27;Dublin&#x27;)" in shown[1]
        assert "tool get_weather" in shown[2] and "<img" not in "".join(shown)
    finally:
        box.close()

"""ModelPicker without a browser: the list, refresh, the session binding, an unreachable server."""

from __future__ import annotations

from typing import Any

from hostile_server import HOSTILE_MODEL, live_markup
from recording import Wire, frontend_event, frontend_update

from ollama_nb.client._client import Client
from ollama_nb.client._session import session
from ollama_nb.widgets import ModelPicker


def test_lists_local_chat_models_with_sizes(ollama_sandbox: Any, wire: Wire) -> None:
    picker = ModelPicker(client=Client(ollama_sandbox.url))
    names = [value for _label, value in picker.dropdown.options]
    local = Client(ollama_sandbox.url).list().models
    # embedding-only models cannot answer a prompt: never offered as the chat default
    assert names == sorted(m.name for m in local if "completion" in (m.capabilities or []))
    assert {"all-minilm:latest", "nomic-embed-text:latest"} <= {m.name for m in local}
    assert not {"all-minilm:latest", "nomic-embed-text:latest"} & set(names)
    labels = {v: k for k, v in picker.dropdown.options}
    assert labels["llama3.2:latest"] == "llama3.2:latest  (2.0 GB)"
    # the session default "llama3.2" is the listed "llama3.2:latest"
    assert picker.value == "llama3.2:latest" and session.model == "llama3.2"
    assert picker.count == len(names) and "local chat models" in picker.status.value
    assert "2 embedding-only not listed" in picker.status.value
    assert repr(picker) == f"ModelPicker(value='llama3.2:latest', {len(names)} local chat models)"
    # the frontend got the labels and the selected index
    sent = [u for u in wire.updates(picker.dropdown) if "_options_labels" in u]
    assert "llama3.2:latest  (2.0 GB)" in sent[-1]["_options_labels"]
    assert wire.updates(picker.dropdown)[-1].get("index") == names.index("llama3.2:latest")


def test_choosing_in_the_browser_sets_the_session_default(ollama_sandbox: Any, wire: Wire) -> None:
    picker = ModelPicker(client=Client(ollama_sandbox.url))
    index = [v for _k, v in picker.dropdown.options].index("qwen3:latest")
    frontend_update(picker.dropdown, index=index)  # what the browser sends on a choice
    assert picker.value == "qwen3:latest"
    assert session.model == "qwen3:latest"


def test_session_change_moves_the_picker(ollama_sandbox: Any, wire: Wire) -> None:
    picker = ModelPicker(client=Client(ollama_sandbox.url))
    wire.clear()
    session.set("model", "qwen3")  # what %ollama model qwen3 does
    assert picker.value == "qwen3:latest"
    assert picker.dropdown.value == "qwen3:latest"
    labels = [k for k, _v in picker.dropdown.options]
    index = labels.index("qwen3:latest  (5.2 GB)")
    assert {"index": index} in wire.updates(picker.dropdown)
    # a model the server does not have is shown as such, not silently dropped
    session.set("model", "mistral")
    assert picker.dropdown.value == "mistral"
    assert ("mistral  (not installed)", "mistral") in picker.dropdown.options


def test_unbound_picker_leaves_the_session_alone(ollama_sandbox: Any, wire: Wire) -> None:
    picker = ModelPicker(client=Client(ollama_sandbox.url), bind=False)
    picker.value = "qwen3:latest"
    assert session.model == "llama3.2"
    session.set("model", "all-minilm")
    assert picker.value == "qwen3:latest"


def test_refresh_picks_up_new_models(ollama_sandbox: Any, wire: Wire) -> None:
    picker = ModelPicker(client=Client(ollama_sandbox.url))
    before = picker.count
    Client(ollama_sandbox.url).pull("gemma3:1b")
    frontend_event(picker.refresh_button, "click")
    assert picker.count == before + 1
    assert "gemma3:1b" in [v for _k, v in picker.dropdown.options]
    assert picker.value == "llama3.2:latest"  # the selection survives a refresh


def test_unreachable_server_gives_a_message_not_an_empty_list(wire: Wire) -> None:
    picker = ModelPicker(client=Client("http://127.0.0.1:9"))
    assert picker.error.startswith("Cannot reach Ollama at http://127.0.0.1:9")
    assert "Cannot reach Ollama" in picker.status.value
    assert picker.dropdown.layout.display == "none" and picker.dropdown.disabled
    assert repr(picker) == "ModelPicker(value='llama3.2', server unreachable)"


def test_empty_server_says_how_to_get_a_model(wire: Wire) -> None:
    from ollama_nb.sandbox import Sandbox

    with Sandbox(port=0, models=[]) as empty:
        picker = ModelPicker(client=Client(empty.url))
    assert picker.count == 0 and "%ollama pull" in picker.status.value


def test_hostile_model_name_never_becomes_markup(hostile: Any, wire: Wire) -> None:
    picker = ModelPicker(client=Client(hostile.url), bind=False)
    assert (f"{HOSTILE_MODEL}  (1.2 MB)", HOSTILE_MODEL) in picker.dropdown.options
    # option labels are set with textContent by the frontend; HTML values must be escaped
    for sent in wire.messages():
        state = sent.data.get("state", {})
        if isinstance(state.get("value"), str):
            assert live_markup(state["value"]) == [], state["value"]
        assert live_markup(str(state.get("description", ""))) == []


def test_an_embedding_model_set_as_default_is_marked(ollama_sandbox: Any, wire: Wire) -> None:
    picker = ModelPicker(client=Client(ollama_sandbox.url))
    session.set("model", "all-minilm")
    labels = {v: k for k, v in picker.dropdown.options}
    assert labels["all-minilm"] == "all-minilm  (embedding model, cannot chat)"


def test_embedding_only_from_older_servers_by_family() -> None:
    from ollama_nb.widgets._picker import embedding_only

    assert embedding_only({"capabilities": ["embedding"]})
    assert not embedding_only({"capabilities": ["completion", "tools"]})
    assert embedding_only({"details": {"family": "nomic-bert", "families": ["nomic-bert"]}})
    assert not embedding_only({"details": {"family": "llama"}})

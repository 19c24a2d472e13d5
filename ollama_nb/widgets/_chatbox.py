"""``ChatBox``: a chat in a widget, sharing its conversation with ``%%ollama --chat NAME``.

The conversation lives in :data:`ollama_nb.client._chat.chats` under ``chat`` (default
``"default"``), so a ChatBox and the magic continue the same history. Replies
stream in a background thread: the click or Enter that sent the message returns
at once, so Stop (and everything else) stays clickable while the model answers; a
message sent meanwhile is queued and goes out when the reply ends. Every message is
rendered through :mod:`ollama_nb.display._render` (raw HTML from the model is shown
as text, never parsed) into ``HTMLMath`` bubbles, so math is typeset as in a cell.

Displaying a ChatBox also displays its transcript as an ordinary output (its record,
hidden while the box is alive; see :mod:`._record`), updated after every turn, so a
saved notebook keeps the conversation.

``ChatBox(tools=[f, g])`` lets the model call those functions: the reply runs the same
loop as ``%%ollama --tools`` (:func:`ollama_nb.client._loop.converse`), each call shows as
a collapsed block in the reply's bubble, and the tool messages stay in the conversation.
"""

from __future__ import annotations

import html
import threading
from concurrent.futures import Future
from typing import Any

import ipywidgets as w
from traitlets import Float, Unicode

from ..client._chat import ChatSession, chats
from ..client._errors import OllamaError
from ..client._loop import DEFAULT_MAX_ROUNDS, Outcome, converse
from ..client._session import session as defaults
from ..client._tools import Toolbox
from ..client._types import ChatResponse
from ..display._render import (
    Stats,
    answer_bundle,
    answer_html,
    escape_pre,
    render_markdown,
    stats_line,
    streaming_html,
)
from ._base import ANSWER_CSS, Throttle, error_html, in_thread, muted
from ._picker import ModelPicker
from ._record import Record

__all__ = ["ChatBox"]

# a bubble never grows past its row: long words wrap inside it (overflow-wrap: anywhere)
_BUBBLE = (
    "border-radius:8px;padding:0.4em 0.75em;margin:0.25em 0;max-width:92%;width:fit-content;"
    "min-width:0;box-sizing:border-box;overflow-wrap:anywhere;line-height:normal"
)
_USER = f"{_BUBBLE};background:var(--jp-layout-color2,#eef3fb);margin-left:auto"
_ASSISTANT = (
    f"{_BUBBLE};background:var(--jp-layout-color1,#fff);"
    "border:1px solid var(--jp-border-color2,#ddd)"
)
_ROLE = "font-size:0.75em;line-height:1.3;margin-bottom:0.2em;color:var(--jp-ui-font-color2,#777)"
def _bubble(role: str, label: str, body: str) -> str:
    style = _USER if role == "user" else _ASSISTANT
    return (
        f'<div class="ollama-nb-msg ollama-nb-{html.escape(role)}" style="{style}">'
        f'<div class="ollama-nb-role" style="{_ROLE}">{html.escape(label)}</div>{body}</div>'
    )


def message_html(message: dict[str, Any], model: str = "") -> str:
    """One stored chat message as a safe HTML bubble (thinking collapsed)."""
    role = str(message.get("role", ""))
    content = str(message.get("content") or "")
    if role == "assistant":
        status = "⏹ incomplete (partial answer)" if message.get("incomplete") else ""
        body = answer_bundle(content, thinking=str(message.get("thinking") or ""),
                             status=status)["text/html"]
        calls = _calls_text(message)
        if calls:
            body = escape_pre(calls) + (body if content or message.get("thinking") else "")
        return _bubble(role, model or "assistant", body)
    if role == "user":
        return _bubble(role, "You", answer_html(render_markdown(content)))
    if role == "tool":
        label = f"tool {message.get('tool_name') or ''}".strip()
        return _bubble(role, label, escape_pre(content))
    return _bubble(role, role or "message", escape_pre(content))


def _calls_text(message: dict[str, Any]) -> str:
    """The tool calls a stored assistant message made, one ``🔧 name(args)`` line each."""
    lines = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {} if isinstance(call, dict) else {}
        args = function.get("arguments") or {}
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items()) if isinstance(args, dict) else repr(args)
        lines.append(f"🔧 {function.get('name')}({shown})")
    return "\n".join(lines)


def transcript_bundle(messages: list[dict[str, Any]], model: str = "") -> dict[str, str]:
    """A conversation as one safe output: the bubbles in HTML, ``role: text`` lines in text."""
    shown = [m for m in messages if m.get("role") != "system"]
    page = "".join(message_html(m, model) for m in shown)
    lines = []
    for m in shown:
        role = m.get("role")
        who = "You" if role == "user" else (f"tool {m.get('tool_name') or ''}".strip()
                                            if role == "tool" else model or str(role or ""))
        mark = " (incomplete)" if m.get("incomplete") else ""
        text = "\n".join(x for x in (_calls_text(m), str(m.get("content") or "")) if x)
        lines.append(f"{who}{mark}: {text}")
    return {"text/plain": "\n\n".join(lines),
            "text/html": f'<div class="ollama-nb-transcript" style="display:flex;'
                         f'flex-direction:column">{page}</div>'}


class ChatBox(w.VBox):
    """History, input box, Send / Stop / Clear, a model picker and a system prompt.

    Parameters
    ----------
    chat:
        Name of the conversation in the shared registry (``%%ollama --chat NAME``).
    model:
        The model to talk to; default: the conversation's last model, then the session's.
    system:
        A system prompt (also editable in the box).
    client, host:
        Where to send requests; by default the session's client.
    think, options:
        Passed to every chat request (``think=True`` shows the model's thinking,
        collapsed; ``options={"temperature": 0}``).
    tools, max_rounds:
        Functions the model may call (as ``%%ollama --tools``), and the most requests one
        message may make while it keeps calling them.
    """

    chat = Unicode("default", help="Name of the shared conversation (as in %%ollama --chat NAME).")
    status = Unicode("idle", help="idle, running, stopping, done, stopped or error.")
    interval = Float(0.1, min=0.0, help="Minimum seconds between two live updates of a reply.")

    def __init__(
        self,
        chat: str = "default",
        *,
        model: str | None = None,
        system: str | None = None,
        client: Any = None,
        host: str | None = None,
        think: bool | str | None = None,
        options: dict[str, Any] | None = None,
        tools: Any = None,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
        **kwargs: Any,
    ) -> None:
        self._client, self._host = client, host
        self.tools = Toolbox.coerce(tools)
        self.max_rounds = max_rounds
        self.request_options: dict[str, Any] = {"think": think, "options": options}
        self.stop_requested = threading.Event()
        self._stream: Any = None
        self._lock = threading.Lock()
        self.future: Future[Any] | None = None  #: the reply being streamed (or the last one)
        self._generation = 0  # bumped by clear(): a reply from before a clear is not stored
        self._queue: list[tuple[str, Future[Any]]] = []  # sent while a reply streamed
        self._record = Record()
        #: where each reply of this box came from (model digest, settings, server), in order
        self.provenance: list[dict[str, Any]] = []
        session = chats.get(chat)
        self.picker = ModelPicker(client=client, host=host, bind=False, description="Model")
        chosen = model or session.model or defaults.model
        if chosen:
            self.picker.value = chosen
        # width auto: the box fills the row without its 2 px margins pushing past it
        self.system_box = w.Textarea(
            placeholder="System prompt (optional)", rows=2, layout=w.Layout(width="auto")
        )
        stored = (
            session.messages[0]["content"]
            if session.messages[:1] and session.messages[0]["role"] == "system"
            else ""
        )
        self.system_box.value = system if system is not None else stored
        # no fixed height: the history grows with the output area, so the newest reply is
        # never hidden below a scroll position the kernel cannot move
        self.history = w.VBox(
            layout=w.Layout(border="1px solid var(--jp-border-color2,#ddd)", padding="0.3em")
        )
        self.history.add_class("ollama-nb-history")
        self.input = w.Text(
            placeholder="Message (Enter to send)",
            continuous_update=True,
            layout=w.Layout(flex="1 1 auto", width="auto"),
        )
        self.send_button = w.Button(
            description="Send",
            icon="paper-plane",
            button_style="primary",
            layout=w.Layout(width="auto"),
        )
        self.stop_button = w.Button(
            description="Stop", icon="stop", disabled=True, layout=w.Layout(width="auto")
        )
        self.clear_button = w.Button(
            description="Clear",
            icon="trash",
            tooltip="Forget this conversation",
            layout=w.Layout(width="auto"),
        )
        self._status = w.HTML("")
        self._css = w.HTML(ANSWER_CSS, layout=w.Layout(display="none"))
        super().__init__(
            children=[
                w.HBox([self.picker, self.clear_button]),
                self.system_box,
                self.history,
                w.HBox([self.input, self.send_button, self.stop_button]),
                self._status,
                self._css,
                self._record.style,
            ],
            chat=chat,
            **kwargs,
        )
        self.add_class("ollama-nb-chatbox")
        self.input.on_msg(self._on_input_msg)
        self.send_button.on_click(lambda _button: self.send())
        self.stop_button.on_click(lambda _button: self.stop())
        self.clear_button.on_click(lambda _button: self.clear())
        self._render_history()

    # -- public API ------------------------------------------------------------------------------
    @property
    def session(self) -> ChatSession:
        """The shared conversation this box shows."""
        return chats.get(self.chat)

    @property
    def model(self) -> str:
        """The model replies come from (the picker's value)."""
        return self.picker.value

    def send(self, text: str | None = None) -> Future[Any] | None:
        """Send ``text`` (default: the input box) and stream the reply in the background.

        Returns a ``Future`` of the reply's typed result, or None when there was
        nothing to send. While a reply streams the message is queued (the status line
        says so) and sent when the reply ends; Stop and Clear drop the queue.
        """
        message = (self.input.value if text is None else text).strip()
        if not message:
            return None
        if not self.model:
            self._set_status("error", "Choose a model first.")
            return None
        if text is None:
            self.input.value = ""
        with self._lock:
            if self.status in ("running", "stopping"):
                queued: Future[Any] = Future()
                self._queue.append((message, queued))
                self._set_status(self.status)
                return queued
        return self._dispatch(message)

    def _dispatch(self, message: str) -> Future[Any]:
        """Show ``message`` and start streaming its reply in a worker thread."""
        model = self.model
        session = self.session
        system = self.system_box.value.strip()
        if system:
            session.set_system(system)
        user = {"role": "user", "content": message}
        messages = session.window(extra=[user])
        self.stop_requested.clear()
        # busy first: a frontend that shows the new bubbles has already disabled Send
        self._set_status("running")
        user_view = w.HTMLMath(message_html(user))
        reply_view = w.HTMLMath(muted(f"{model} …"))
        self.history.children = (*self.history.children, user_view, reply_view)
        generation = self._generation
        self.future = in_thread(
            lambda: self._reply(
                session, model, message, messages, user_view, reply_view, generation
            ),
            name="ollama-nb-chat",
        )
        return self.future

    def stop(self) -> None:
        """Stop the reply being streamed, closing its connection now (thread-safe).

        Messages queued behind it are not sent: their text goes back to the input box.
        """
        self._drop_queue()
        self.stop_requested.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()
        if self.status == "running":
            self._set_status("stopping")

    def clear(self) -> None:
        """Forget the conversation (the system prompt stays) and empty the history."""
        self.stop()
        self._generation += 1
        self.session.reset(keep_system=True)
        self._render_history()
        self._set_status("idle")
        self._update_record()

    def _drop_queue(self) -> None:
        with self._lock:
            queued, self._queue = self._queue, []
        for _message, future in queued:
            future.cancel()
        if queued:
            texts = [m for m, _ in queued]
            self.input.value = "\n".join([*([self.input.value] if self.input.value else []), *texts])

    def _next_in_queue(self) -> None:
        """After a reply: send the first queued message, its Future following the real one."""
        with self._lock:
            if not self._queue:
                return
            message, queued = self._queue.pop(0)
        if not queued.set_running_or_notify_cancel():
            return
        real = self._dispatch(message)

        def follow(done: Future[Any]) -> None:
            error = done.exception()
            if error is not None:
                queued.set_exception(error)
            else:
                queued.set_result(done.result())

        real.add_done_callback(follow)

    def to_dataframe(self) -> Any:
        """The conversation as a DataFrame (role, content, thinking, ...), like ``--history``."""
        return self.session.to_dataframe()

    # -- streaming a reply (worker thread) --------------------------------------------------------
    def _reply(
        self,
        session: ChatSession,
        model: str,
        message: str,
        messages: list[dict[str, Any]],
        user_view: Any,
        reply_view: Any,
        generation: int,
    ) -> Any:
        from ..client._provenance import server_facts
        from ..client._session import get_client

        sink = _Sink(self, reply_view, model)
        extra = {k: v for k, v in self.request_options.items() if v is not None}
        body = {"model": model, "messages": messages, **extra}
        client = None
        try:
            client = get_client(self._host, self._client)
            server_facts(client, model)  # for the provenance (cached), before the reply
            outcome = converse(client, "chat", body, stream=True,
                               tools=self.tools, max_rounds=self.max_rounds, sink=sink)
        except Exception as exc:  # noqa: BLE001 - a bad host, a bug: said in the box, then raised
            outcome = Outcome(failure=exc)
        finally:
            sink.close()
            with self._lock:
                self._stream = None
        failure = outcome.failure
        if failure is not None and not isinstance(failure, KeyboardInterrupt):
            error = failure.message if isinstance(failure, OllamaError) else \
                f"{type(failure).__name__}: {failure}"
            if outcome.messages:
                self._keep(session, model, message, outcome, reply_view, generation,
                           note=f"✖ {error}", origin=(client, body, error))
            else:  # nothing arrived: give the text back so it can be sent again
                self.history.children = tuple(
                    c for c in self.history.children if c not in (user_view, reply_view)
                )
                user_view.close()
                reply_view.close()
                if not self.input.value:
                    self.input.value = message
            if generation == self._generation:
                self._set_status("error", error)
            self._drop_queue()
            raise failure
        stopped = self.stop_requested.is_set() or outcome.interrupted
        final = outcome.final
        stats = Stats.from_response(final, model=model) if final is not None else None
        # the status line shows the last reply's stats only: a bubble cut by num_predict says so
        note = "⏹ stopped (partial answer)" if stopped else (
            f"⚠ {outcome.note}" if outcome.note else (stats.cut_note if stats else ""))
        self._keep(session, model, message, outcome, reply_view, generation, note=note,
                   origin=(client, body, None))
        if generation == self._generation:  # after a clear the box is idle already
            self._set_status("stopped" if stopped else "done", stats_line(stats) if stats else "")
        self._next_in_queue()
        last = outcome.messages[-1] if outcome.messages else {"role": "assistant", "content": ""}
        raw = dict(outcome.final.raw) if outcome.final is not None and not stopped else {}
        return ChatResponse({**raw, "message": {k: v for k, v in last.items() if k != "incomplete"},
                             "done": bool(raw.get("done"))})

    def _keep(
        self,
        session: ChatSession,
        model: str,
        message: str,
        outcome: Outcome,
        view: Any,
        generation: int,
        note: str,
        origin: tuple[Any, dict[str, Any], str | None],
    ) -> None:
        """Store the turn in the shared conversation, log it with its provenance and show the
        final rendering."""
        from ..client._promptlog import log_answer
        from ..client._provenance import provenance

        client, body, error = origin
        final = outcome.final
        where = provenance(client, "/api/chat", body, final.raw if final is not None else None)
        log_answer("chatbox", body, where, answer=outcome.text, thinking=outcome.thinking,
                   done=final is not None and not note.startswith(("⏹", "✖")), interrupted=note.startswith("⏹"),
                   error=error)
        view.value = _bubble(
            "assistant",
            model,
            answer_bundle(outcome.text, thinking=outcome.thinking, status=note,
                          steps=outcome.steps)["text/html"],
        )
        if generation != self._generation:  # the conversation was cleared meanwhile
            return
        # a reply stopped before anything arrived still keeps its turn (marked incomplete)
        added = outcome.messages or [{"role": "assistant", "content": "", "incomplete": True}]
        session.add_exchange({"role": "user", "content": message}, added)
        session.model = model
        self.provenance.append(where)
        self._update_record()

    # -- display ----------------------------------------------------------------------
    def _render_history(self) -> None:
        old = self.history.children
        model = self.session.model or ""
        self.history.children = tuple(
            w.HTMLMath(message_html(m, model))
            for m in self.session.messages
            if m.get("role") != "system"
        )
        for child in old:
            child.close()

    def _set_status(self, status: str, detail: str = "") -> None:
        self.status = status
        running = status in ("running", "stopping")
        self.stop_button.disabled = not running
        self.send_button.disabled = running
        label = {
            "running": "● answering…",
            "stopping": "stopping…",
            "stopped": "⏹ stopped",
            "done": "✔",
            "error": "✖",
            "idle": "",
        }.get(status, status)
        waiting = len(self._queue)
        if running and waiting:
            detail = (f"{waiting} message{'s' if waiting != 1 else ''} queued "
                      f"(sent when this reply ends; Stop drops the queue)")
        text = " ".join(p for p in (label, detail) if p)
        self._status.value = error_html(text) if status == "error" else muted(text)

    # -- the record: the transcript as an ordinary output ---------------------------------------
    def _ipython_display_(self) -> None:
        """Display the box, then its transcript as an ordinary output (hidden while alive)."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
        self._record.show(self._transcript())

    def _transcript(self) -> dict[str, str]:
        return transcript_bundle(self.session.messages, self.session.model or "")

    def _update_record(self) -> None:
        if self._record.handle is not None:  # only a box displayed by itself has a record
            self._record.show(self._transcript(),
                              metadata={"ollama_nb": {"provenance": self.provenance}})

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget, with a text that stays true after it is saved (no message count)."""
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = (f"ChatBox(chat={self.chat!r})  (a live widget; the conversation "
                                f"is kept as the next output)")
        return bundle

    def _on_input_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("event") == "submit":  # Enter in the input box
            self.send()

    def __repr__(self) -> str:
        count = sum(1 for m in self.session.messages if m.get("role") != "system")
        return f"ChatBox(chat={self.chat!r}, model={self.model!r}, {count} messages)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def close(self) -> None:
        """Stop any reply and close the widgets."""
        self.stop()
        for child in (
            *self.history.children,
            self.history,
            self.picker,
            self.system_box,
            self.input,
            self.send_button,
            self.stop_button,
            self.clear_button,
            self._status,
            self._css,
            *self.children,
        ):
            child.close()
        self._record.close()
        super().close()


class _Sink:
    """A reply's view for the tool loop: throttled updates of its bubble (text, thinking,
    tool calls), the stream handed to Stop, and the box's stop event."""

    def __init__(self, box: ChatBox, view: Any, model: str) -> None:
        self.box, self.view, self.model = box, view, model
        self.stop_requested = box.stop_requested
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.items: list[Any] = []
        self.throttle = Throttle(box.interval, self.show, wait_first=True)

    def attach(self, stream: Any) -> None:
        with self.box._lock:
            self.box._stream = stream
        if self.stop_requested.is_set():
            stream.close()

    def feed(self, text: str, thinking: str) -> None:
        if text:
            self.text.append(text)
        if thinking:
            self.thinking.append(thinking)
        self.throttle.poke()

    def steps(self, items: list[Any]) -> None:
        self.items, self.text, self.thinking = list(items), [], []
        self.throttle.poke()

    def show(self) -> None:
        self.view.value = _bubble("assistant", self.model, streaming_html(
            "".join(self.text), thinking="".join(self.thinking), steps=self.items))

    def close(self) -> None:
        self.throttle.close()

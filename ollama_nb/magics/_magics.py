"""``OllamaMagics``: the ``%%ollama`` cell magic, the ``%ollama`` line magic, and their settings.

Every setting is a traitlet (``%config OllamaMagics.update_rate = 4`` or
``c.OllamaMagics.model = "qwen3"`` in ``ipython_config.py``). ``host``,
``hosts``, ``model``, ``embed_model`` and ``timeout`` mirror :data:`ollama_nb.client._session.session`
both ways, so ``%ollama model NAME``, the model picker and ``onb.embed`` agree.

Return values: ``%%ollama PROMPT`` returns ``None`` (the answer is already on
screen; the result is in ``_ollama`` and ``-o VAR``; with ``--bg`` they are set when
the answer ends, see :mod:`._background`); subcommands that produce
data (``models``, ``ps``, ``show``, ``embed``, ``chat --history``, ``status``,
``picker``, ``chatbox``) return it, so it shows as ``Out[n]`` and can be assigned.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from traitlets import (
    Bool,
    Dict,
    Enum,
    Float,
    Instance,
    Int,
    List,
    TraitError,
    Tuple,
    Unicode,
    Union,
    observe,
    validate,
)

from ..client import _session
from ..client._chat import chats
from ..client._errors import InvalidArgumentError
from ..client._host import HostText
from ..client._hosts import Hosts
from . import _cell_errors, _context
from ._context import DISPLAY_ENV
from ._interpolate import interpolate
from ._parse import HELP, SUBCOMMANDS, check_alias, parse_cell_line
from ._result import OllamaResult

__all__ = ["DISPLAY_ENV", "OllamaMagics"]

_SYNCED = ("host", "hosts", "model", "embed_model", "timeout")
_CELL_SUBCOMMANDS = ("embed", "create")


@magics_class
class OllamaMagics(Magics):
    """Prompt local Ollama models and manage them from IPython / Jupyter."""

    host = Unicode(None, allow_none=True, help=(
        "Ollama server URL (None: OLLAMA_HOST, then http://127.0.0.1:11434). "
        "Mirrors ollama_nb's session host; `%ollama host URL` sets it too.")).tag(config=True)
    hosts = Union([Instance(Hosts), List(Unicode()), Dict(), Unicode()], default_value=None,
                  allow_none=True, help=(
        "Several Ollama servers that embed and map_prompts spread their work over: a list of "
        "URLs, a {url: concurrency} dict or an ollama_nb.Hosts (None: just `host`). Mirrors the "
        "session; `%ollama hosts URL ...` sets it too and `%ollama status` checks each one."
    )).tag(config=True)
    model = Unicode(_session.DEFAULT_MODEL, help=(
        "Default model for %%ollama when none is given. Mirrors the session default "
        "(`%ollama model NAME`, the model picker).")).tag(config=True)
    embed_model = Unicode(_session.DEFAULT_EMBED_MODEL, help=(
        "Default model for `%%ollama embed` and `%ollama embed --from`.")).tag(config=True)
    timeout = Union([Float(), Tuple(Float(), Float())], default_value=None, allow_none=True, help=(
        "Request timeout in seconds: one number, or (connect, read). None: the client's "
        "defaults (short connect, long read for cold model loads).")).tag(config=True)
    update_rate = Float(10.0, help=(
        "Most display updates per second while an answer streams (tokens are merged in "
        "between); 0 sends no intermediate updates, only the final answer.")).tag(config=True)
    display_mode = Enum(("auto", "live", "final"), "auto", help=(
        "'live' streams into the output; 'final' shows only the finished answer (one "
        "display_data, for nbval/nbconvert checks); 'auto' uses $OLLAMA_NB_DISPLAY "
        "(live|final) and is live when it is unset.")).tag(config=True)
    history_limit = Int(20, help=(
        "Most messages of a --chat conversation sent with each request (the system "
        "message is always kept; 0 sends the whole history).")).tag(config=True)
    options = Dict(help=(
        "Default Ollama options for every prompt, e.g. {'temperature': 0, 'num_ctx': 8192}; "
        "command-line options override them.")).tag(config=True)
    show_stats = Bool(True, help=(
        "Show the stats line (model, tokens, tokens/s, load time) after each answer; turn "
        "off for notebooks whose outputs are compared (nbval).")).tag(config=True)
    aliases = Dict(value_trait=Unicode(), help=(
        "Short names for a model with options, {NAME: 'MODEL [options]'}, e.g. {'fast': "
        "'llama3.2 --temperature 0 --num-ctx 8192'}; usable wherever %%ollama takes a model "
        "(the line's own options win). `%ollama alias NAME MODEL [options]` adds one.")).tag(config=True)
    use_widgets = Bool(True, help=(
        "Show pull/push/create progress with the PullProgress widget when running in a "
        "Jupyter kernel with ipywidgets; otherwise (or when False) a text view.")).tag(config=True)
    background = Bool(False, help=(
        "Run every %%ollama prompt in the background, as with --bg: the cell returns at once "
        "and the answer streams into its output (--no-bg runs one in the foreground). Where "
        "no frontend shows output that arrives after a cell ends (nbconvert --execute, "
        "papermill, nbval, jupyter console, terminal IPython) the cell waits for its answer "
        "instead.")).tag(config=True)
    background_limit = Int(4, help=(
        "Most background answers that stream at once; more wait in a queue, in order, and "
        "start as others end (each says so in its output).")).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        configured = self.config.get("OllamaMagics", {}) if "OllamaMagics" in self.config else {}
        session = _session.session
        for name in _SYNCED:  # explicit config wins; otherwise follow the session
            if name in configured:
                session.set(name, getattr(self, name))
            else:
                self._set_quietly(name, getattr(session, name))
        chats.set_history_limit(self.history_limit)
        self._unobserve = session.observe(self._session_changed)
        from . import _awaited, _background

        _background.answers.set_limit(self.background_limit)
        self._transformer = None
        if shell is not None and _awaited.can_await(shell):  # --pane cells are awaited
            self._transformer = _awaited.await_pane_cells
            shell.input_transformers_post.append(self._transformer)
        self.errors = _cell_errors.install(shell) if shell is not None else None  # Err[n]

    # ----------------------------------------------------------------- settings plumbing

    def _set_quietly(self, name: str, value: Any) -> None:
        if getattr(self, name) != value:
            setattr(self, name, value)

    def _session_changed(self, name: str, value: Any) -> None:
        if name in _SYNCED:
            self._set_quietly(name, value)

    @observe(*_SYNCED)
    def _to_session(self, change: Any) -> None:
        _session.session.set(change["name"], change["new"])

    @observe("history_limit")
    def _history_limit_changed(self, change: Any) -> None:
        chats.set_history_limit(change["new"])

    @validate("background_limit")
    def _check_background_limit(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise TraitError("background_limit must be >= 1 (answers beyond it wait in a queue)")
        return int(proposal["value"])

    @observe("background_limit")
    def _background_limit_changed(self, change: Any) -> None:
        from ._background import answers

        answers.set_limit(change["new"])

    @validate("host")
    def _check_host(self, proposal: Any) -> Any:
        value = proposal["value"]
        return HostText(value) if isinstance(value, str) else value  # repr hides user:pass@

    @validate("hosts")
    def _check_hosts(self, proposal: Any) -> Hosts | None:
        try:
            return Hosts.coerce(proposal["value"])
        except InvalidArgumentError as exc:
            raise TraitError(exc.message) from None

    @validate("aliases")
    def _check_aliases(self, proposal: Any) -> dict[str, str]:
        aliases = dict(proposal["value"])
        try:
            return {name: check_alias(name, spec, aliases) for name, spec in aliases.items()}
        except UsageError as exc:
            raise TraitError(f"OllamaMagics.aliases: {exc}") from None

    def resolve(self, model: str) -> str:
        """The model an alias names (its options apply only to prompts); others unchanged."""
        if model in self.aliases:
            return str(parse_cell_line("", aliases=self.aliases, default=model).model)
        return model

    @validate("update_rate")
    def _check_rate(self, proposal: Any) -> float:
        if proposal["value"] < 0:
            raise TraitError("update_rate must be >= 0 (0: only the final answer)")
        return float(proposal["value"])

    @validate("history_limit")
    def _check_history(self, proposal: Any) -> int:
        if proposal["value"] < 0:
            raise TraitError("history_limit must be >= 0 (0: no limit)")
        return int(proposal["value"])

    @property
    def live(self) -> bool:
        """Whether answers stream into the output (False: final answer only)."""
        return _context.is_live(self.display_mode)

    @property
    def widgets_wanted(self) -> bool:
        """Use widgets for progress: allowed, live display, and a kernel with a frontend."""
        return _context.widgets_wanted(self.use_widgets, self.live, self.shell)

    def close(self) -> None:
        """Stop following the session, stop background answers, take the cell transformer out
        (called by ``%unload_ext``)."""
        self._unobserve()
        from ._background import answers

        for job in answers.pending():
            job.stop()
        transformers = getattr(self.shell, "input_transformers_post", [])
        if self._transformer in transformers:
            transformers.remove(self._transformer)
        if self.errors is not None:  # and stop keeping the cells' errors (Err)
            _cell_errors.uninstall(self.shell, self.errors)

    def client(self, host: str | None = None, timeout: Any = None) -> Any:
        """A cached client for ``host`` (default: the session host); a bad URL is a UsageError."""
        return _context.client_for(host, timeout)

    def store(self, result: OllamaResult, output: str | None = None) -> None:
        """Keep ``result`` as ``_ollama`` (and ``output`` if given) in the user namespace."""
        if self.shell is None:
            return
        self.shell.user_ns["_ollama"] = result
        if output:
            self.shell.user_ns[output] = result

    # ----------------------------------------------------------------- the magic

    @no_var_expand
    @needs_local_scope
    @line_cell_magic
    def ollama(self, line: str, cell: str | None = None, local_ns: Any = None) -> Any:
        """Prompt a model (cell: ``%%ollama [MODEL] [options]``) or manage models (line: ``%ollama help``)."""
        from ._commands import Commands

        commands = Commands(self, local_ns)
        words = line.split(None, 1)
        first = words[0] if words else ""
        rest = words[1] if len(words) > 1 else ""
        if cell is None:
            if not first:
                return commands.run("help", "", None)
            if first not in SUBCOMMANDS:
                raise UsageError(
                    f"unknown subcommand {first!r}. Subcommands: {', '.join(SUBCOMMANDS)}. "
                    f"To prompt a model use the cell magic: %%ollama {first} + prompt in the cell")
            return commands.run(first, rest, None)
        if first in _CELL_SUBCOMMANDS:
            return commands.run(first, rest, cell)
        if first in ("explain", "fix"):
            raise UsageError(f"%ollama {first} is a line magic: %ollama {first} [N] [MODEL] [options] "
                             f"(write it on one line; the cell is not used)")
        return self._prompt(line, cell, local_ns)

    ollama.__doc__ = HELP  # shown by %ollama? and %%ollama?

    def _prompt(self, line: str, cell: str, local_ns: Any) -> Any:
        args = parse_cell_line(line, aliases=self.aliases, default=self.model)
        user_ns = self.shell.user_ns if self.shell is not None else {}
        prompt = cell.rstrip()
        if args.interpolate:
            prompt = interpolate(prompt, user_ns, local_ns)
        if not prompt.strip():
            raise UsageError("the cell is empty: write the prompt below the %%ollama line")
        if args.compare:
            from ._compare import compare

            compare(self, line, prompt, local_ns)
            return None
        outcome = self.answer(args, prompt, local_ns, wait=args.new_cell)
        if args.new_cell:
            from ._assistant import offer_cell

            offer_cell(self, outcome)
        return None if isinstance(outcome, OllamaResult) else outcome  # shown once, not as Out[n]

    def answer(self, args: Any, prompt: str, local_ns: Any, *, wait: bool = False) -> Any:
        """Answer ``prompt`` with the parsed ``%%ollama`` options, streaming, kept as ``_ollama``.

        Returns the :class:`OllamaResult`, or with ``--bg`` (and awaited ``--pane`` cells) what the
        cell hands on; ``wait=True`` (explain, fix, ``--new-cell``) always answers in the cell.
        """
        from . import _awaited
        from ._prompt import build_request, new_result, run_request
        from ._stream_display import LiveAnswer

        user_ns = self.shell.user_ns if self.shell is not None else {}
        model = args.model or self.model
        if not model:
            raise UsageError("no model: give one (%%ollama llama3.2) or set %ollama model NAME")
        background = not wait and self._runs_in_background(args)
        if args.chat:
            self._check_chat_free(args.chat)
        chat = chats.get(args.chat) if args.chat else None
        request = build_request(args, prompt, model=model, default_options=self.options,
                                user_ns=user_ns, local_ns=local_ns, chat=chat)
        live_display = self.live and request.stream
        view = self._pane() if args.pane and live_display else None
        number = 0
        if background:
            from ._background import answers

            number = answers.next_number()
            if view is None:
                view = self._stop_control(f"#{number}")
        live = LiveAnswer(header=f"{model} …", live=live_display, rate=self.update_rate,
                          view=view, stdout=self._plain_terminal())
        client = self.client(args.host, args.timeout)
        result = new_result(request)

        def store(r: OllamaResult) -> None:
            self.store(r, args.output)

        def run() -> OllamaResult:
            try:
                return run_request(client, request, live, store, show_stats=self.show_stats,
                                   result=result, background=background)
            finally:
                close = getattr(view, "close", None)
                if callable(close):  # the final answer has replaced the pane; free its comms
                    close()

        if background:
            return self._start_background(number, result, live, run, store, prompt, args.output)
        if not wait and _awaited.AWAITED.get():  # the cell awaits: stream in a thread, Stop clicks get handled
            from ..widgets._base import in_thread

            return _awaited.in_cell(in_thread(run, name="ollama-nb-answer"), live.stop,
                                    lambda: bool(live.text or live.thinking))
        return run()

    def _runs_in_background(self, args: Any) -> bool:
        """``--bg`` (or ``background``), where a frontend will show what arrives later."""
        from ._background import frontend_shows_later

        wanted = self.background if args.background is None else args.background
        return bool(wanted and self.live and not self._plain_terminal()
                    and frontend_shows_later(self.shell))

    def _check_chat_free(self, name: str) -> None:
        from ._background import answers

        busy = answers.chat_busy(name)
        if busy is not None:
            raise UsageError(f"chat {name!r} is still answering in the background ({busy.label}): "
                             f"wait for it (`await onb.wait()`) or stop it (`%ollama stop "
                             f"{busy.number}`), then continue the conversation")

    def _start_background(self, number: int, result: OllamaResult, live: Any, run: Any,
                          store: Any, prompt: str, output: str | None) -> None:
        from ._background import BackgroundAnswer, answers

        words = " ".join(prompt.split())
        summary = f": {words[:40]!r}" if len(words) <= 40 else f": {words[:39] + '…'!r}"
        job = BackgroundAnswer(number, result, live, run, store, summary=summary,
                               control=live.view if hasattr(live.view, "note") else None)
        if job.control is not None:  # a click stops the answer (queued or streaming) itself
            job.control.on_stop = job.stop
        if output and self.shell is not None:
            self.shell.user_ns[output] = result  # pending: `await VAR` waits for it
        live.start(result.model)  # its outputs are in place before it streams (or queues)
        answers.submit(job)
        return None

    def _stop_control(self, label: str) -> Any:
        """The small Stop button of a background answer (None without a widget frontend)."""
        if not self.widgets_wanted:
            return None
        try:
            from ..widgets._stop import StopControl
        except ImportError:
            return None
        return StopControl(label)

    def _plain_terminal(self) -> bool:
        """True in terminal IPython, whose display publisher prints every update in full."""
        from IPython.core.displaypub import DisplayPublisher

        return type(getattr(self.shell, "display_pub", None)) is DisplayPublisher

    def _pane(self) -> Any:
        """A StreamPane that shows the answer while it streams (the final answer replaces it)."""
        try:
            from ..widgets import StreamPane
        except ImportError as exc:
            raise UsageError(f"--pane needs the ollama_nb widgets and ipywidgets ({exc}); "
                             f"pip install ipywidgets, or leave out --pane") from None
        return StreamPane(record=False)

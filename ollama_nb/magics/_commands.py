"""The ``%ollama SUBCOMMAND`` commands (and the cell forms ``%%ollama embed`` / ``create``).

One method per subcommand (``do_<name>``). Client errors become one-line
UsageErrors; data comes back as return values (DataFrames, result objects) so
IPython shows them as ``Out[n]``; confirmations are printed.

Widget seams (filled by ``ollama_nb.widgets``, imported only when used):
``%ollama picker`` returns ``ModelPicker()``; ``%ollama chatbox [NAME] [-m MODEL]``
returns ``ChatBox(NAME, model=MODEL)`` (the conversation ``NAME`` of
:data:`ollama_nb.client._chat.chats`, shared with ``%%ollama --chat NAME``); progress uses
``PullProgress`` (see ``_progress``); ``--pane`` uses ``StreamPane`` as an
``AnswerView`` (see ``_stream_display``).
"""

from __future__ import annotations

import argparse
import contextlib
import html
import re
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

from IPython.core.error import UsageError

from ..client import _session
from ..client._chat import chats
from ..client._errors import ModelNotFoundError, OllamaError, ResponseError, StreamError
from ..client._hosts import Hosts
from ..client._provenance import forget
from ..display._interrupt import one_line_interrupt
from . import RECORDER
from ._context import MagicSettings, client_for
from ._interpolate import interpolate
from ._parse import HELP, SUBCOMMANDS, check_alias, split, subcommand_parser

__all__ = ["Commands", "ModelCard", "ServerStatus"]


@contextlib.contextmanager
def client_errors(model: str | None = None, *, missing: str | None = None) -> Iterator[None]:
    """Turn the client's typed errors into one-line UsageErrors (a 404 for ``model`` says how to
    pull it, or ``missing`` when pulling is not the next step)."""
    try:
        yield
    except ModelNotFoundError as exc:
        if missing:
            raise UsageError(f"Model {exc.model!r} not found on the server ({exc.error}); {missing}") from None
        raise UsageError(exc.message) from None
    except ResponseError as exc:
        hint = ""
        if model and exc.status_code == 404 and "not found" in exc.error:
            hint = f" Pull it with `%ollama pull {model}`."
        raise UsageError(exc.message + hint) from None
    except OllamaError as exc:
        raise UsageError(exc.message) from None


# a pull or push reports its failure as an error line after its first status lines
_MID_STREAM = re.compile(r"^Ollama reported an error mid-stream after \d+ chunks?: ")


@contextlib.contextmanager
def _not_there(action: str, model: str) -> Iterator[None]:
    """A pull of a name the registry lacks, or a push of a model we lack, says where to look;
    any other error line of a pull/push/create is the server's own text, said once."""
    try:
        yield
    except StreamError as exc:
        said = _MID_STREAM.sub("", exc.message)
        if action == "pull" and "file does not exist" in said:
            raise UsageError(f"the registry has no model {model!r} ({said}); check the name "
                             f"and tag at https://ollama.com/library") from None
        if action == "push" and "no such file or directory" in said:
            raise UsageError(f"no local model {model!r} to push ({said}); `%ollama models` "
                             f"lists them (make one with %%ollama create or %ollama cp)") from None
        if said != exc.message:
            raise UsageError(f"{action} {model}: {said}") from None
        raise


def _frames() -> Any:
    try:
        from .. import frames
    except ImportError as exc:
        raise UsageError(f"this command needs pandas ({exc}); pip install pandas") from None
    return frames


class ModelCard:
    """``%ollama show MODEL``: the /api/show answer, readable as text and as (escaped) HTML."""

    _SECTIONS = ("capabilities", "details", "parameters", "system", "template", "license", "modelfile")

    def __init__(self, model: str, response: Any) -> None:
        self.model = model
        self.response = response
        self.raw: Mapping[str, Any] = getattr(response, "raw", response) or {}

    def __getattr__(self, name: str) -> Any:
        raw = self.__dict__.get("raw") or {}
        if name in raw:
            return raw[name]
        raise AttributeError(name)

    def _items(self) -> list[tuple[str, str]]:
        items = []
        for key in self._SECTIONS:
            value = self.raw.get(key)
            if not value:
                continue
            if isinstance(value, Mapping):
                text = "\n".join(f"{k}: {v}" for k, v in value.items() if v not in (None, "", []))
            elif isinstance(value, list):
                text = ", ".join(str(v) for v in value)
            else:
                text = str(value).strip()
            if key == "license" and len(text) > 400:
                text = text[:400] + " …"
            items.append((key, text))
        info = self.raw.get("model_info") or {}
        if info:
            keys = [k for k in info if k.endswith((".context_length", ".embedding_length",
                                                   ".block_count", "parameter_count"))]
            if keys:
                items.append(("model_info", "\n".join(f"{k}: {info[k]}" for k in keys)))
        return items

    def __repr__(self) -> str:
        lines = [self.model]
        for key, text in self._items():
            body = text.replace("\n", "\n    ")
            lines.append(f"  {key}:\n    {body}" if "\n" in text else f"  {key}: {text}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        rows = "".join(
            f'<tr><th style="text-align:left;vertical-align:top">{html.escape(k)}</th>'
            f'<td style="text-align:left"><pre style="white-space:pre-wrap;margin:0">{html.escape(v)}</pre></td></tr>'
            for k, v in self._items())
        return f"<b>{html.escape(self.model)}</b><table>{rows}</table>"


class ServerStatus:
    """``%ollama status``: host, reachable, version, model count (and a sandbox's engines)."""

    def __init__(self, host: str, reachable: bool, version: str | None, models: int | None,
                 error: str | None = None, engines: dict[str, str] | None = None) -> None:
        self.host, self.reachable, self.version, self.models, self.error = host, reachable, version, models, error
        self.engines = engines  # model -> engine serving it, when the server is an ollama_nb sandbox

    def _rows(self) -> list[tuple[str, str]]:
        rows = [("host", self.host), ("reachable", "yes" if self.reachable else "no")]
        if self.version is not None:
            rows.append(("version", self.version))
        if self.models is not None:
            rows.append(("models", str(self.models)))
        if self.engines is not None:
            rows.append(("server", "ollama_nb sandbox (not a real Ollama)"))
            rows.append(("engines", "\n".join(f"{model}: {engine}"
                                               for model, engine in sorted(self.engines.items()))))
        if self.error:
            rows.append(("error", self.error))
        return rows

    def __repr__(self) -> str:  # a value of several lines is indented under its one label
        return "\n".join(f"{k:<10} {v}".replace("\n", "\n" + " " * 11) for k, v in self._rows())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        rows = "".join(f'<tr><th style="text-align:left;vertical-align:top">{html.escape(k)}</th>'
                       f'<td style="text-align:left">{html.escape(v).replace(chr(10), "<br>")}</td></tr>'
                       for k, v in self._rows())
        return f"<table>{rows}</table>"


def _hosts_status(hosts: Hosts, models: tuple[str, ...]) -> Any:
    """``%ollama status`` with several hosts: one row per host, all asked at once."""
    import pandas as pd

    rows = hosts.check(models)
    return pd.DataFrame({
        "host": [r.host for r in rows],
        "reachable": [r.reachable for r in rows],
        "version": pd.array([r.version for r in rows], dtype="string"),
        "models": pd.array([r.models for r in rows], dtype="Int64"),
        "lacks": [", ".join(r.lacks) for r in rows],
        "in flight": [r.in_flight for r in rows],
        "error": pd.array([r.error for r in rows], dtype="string"),
    })


def _sandbox_engines(client: Any) -> dict[str, str] | None:
    """Which engine serves each model (real or made-up answers), if the server is an ollama_nb sandbox.

    Asked over HTTP (a real Ollama answers 404), so the client and the sandbox share no code.
    """
    try:
        engines = client.request_raw("GET", "/_sandbox/engines").json().get("engines")
    except (OllamaError, ValueError, AttributeError):
        return None
    return {str(k): str(v) for k, v in engines.items()} if isinstance(engines, dict) else None


_OPTION_WORDS = ("explain", "fix", "alias")


class Commands:
    """Runs one subcommand with the settings of an ``OllamaMagics`` instance."""

    def __init__(self, magics: MagicSettings, local_ns: Mapping[str, Any] | None = None) -> None:
        self.magics = magics
        self.local_ns = local_ns
        self.user_ns: dict[str, Any] = magics.shell.user_ns if magics.shell is not None else {}

    def run(self, name: str, line: str, cell: str | None) -> Any:
        if name in _OPTION_WORDS:  # their words are %%ollama options, read by the cell parser
            words = split(line)
            rm = name == "alias" and words[:1] == ["--rm"]
            args: Any = argparse.Namespace(words=words[1:] if rm else words, rm=rm)
        else:
            args = subcommand_parser(name).parse_args(split(line))
        if name == "create" and cell is None:
            raise UsageError("create needs a Modelfile: use the cell form, %%ollama create NAME "
                             "with the Modelfile (FROM llama3.2 ...) in the cell")
        if name == "embed" and cell is not None and args.source is not None:
            raise UsageError("use either the cell's lines or --from VAR, not both")
        method = getattr(self, f"do_{name}")
        try:
            return method(args, cell)
        finally:
            if name in ("pull", "create", "cp", "rm"):  # a model's digest may have changed
                forget(self._client(args).base_url)

    def _client(self, args: Any) -> Any:
        return client_for(getattr(args, "host", None))

    def _lookup(self, name: str) -> Any:
        for ns in (self.local_ns or {}, self.user_ns):
            if name in ns:
                return ns[name]
        raise UsageError(f"no variable named {name!r}")

    # ------------------------------------------------------------------ info

    def do_help(self, args: Any, cell: str | None) -> None:
        print(HELP)

    def do_stop(self, args: Any, cell: str | None) -> None:
        """Stop background answers (``%%ollama --bg``): the newest, ``all``, or number N."""
        from ._background import answers

        try:
            jobs = answers.find(args.which)
        except ValueError as exc:
            raise UsageError(f"{exc}. Usage: {SUBCOMMANDS['stop']}") from None
        if not jobs:
            print("no background answer is streaming")
            return
        for job in jobs:
            job.stop()
        from concurrent.futures import wait

        wait([job.future for job in jobs], timeout=10)  # so the next cell sees _ollama set
        for job in jobs:
            kept = len(job.result.text)
            print(f"⏹ stopped {job.label} ({job.model}): "
                  + (f"{kept} characters kept" if kept else "nothing had arrived"))

    def do_models(self, args: Any, cell: str | None) -> Any:
        frames = _frames()
        with client_errors():
            return frames.models(client=self._client(args))

    def do_ps(self, args: Any, cell: str | None) -> Any:
        frames = _frames()
        with client_errors():
            return frames.running(client=self._client(args))

    def do_show(self, args: Any, cell: str | None) -> ModelCard:
        model = self.magics.resolve(args.model)
        with client_errors(model):
            return ModelCard(model, self._client(args).show(model, verbose=args.verbose))

    def do_status(self, args: Any, cell: str | None) -> Any:
        hosts = _session.session.hosts
        if args.host is None and hosts is not None:
            return _hosts_status(hosts, (self.magics.model, self.magics.embed_model))
        client = self._client(args)
        try:
            version = client.version()
            count = len(client.list().models)
        except OllamaError as exc:
            return ServerStatus(client.base_url, False, None, None, exc.message)
        return ServerStatus(client.base_url, True, version, count, engines=_sandbox_engines(client))

    # ------------------------------------------------------------------ defaults

    def do_model(self, args: Any, cell: str | None) -> None:
        if args.value is None:
            print(f"model: {self.magics.model}   embed model: {self.magics.embed_model}")
            return
        model = self.magics.resolve(args.value)
        _session.session.set("model", model)
        alias = f" (alias {args.value}: name it in %%ollama for its options too)" if model != args.value else ""
        print(f"default model: {model}{alias}")

    def do_host(self, args: Any, cell: str | None) -> None:
        if args.value is not None:
            with client_errors():
                client_for(args.value)  # validates the URL before it becomes the default
            _session.session.set("host", args.value)
        with client_errors():
            print(f"host: {client_for().base_url}")

    def do_hosts(self, args: Any, cell: str | None) -> None:
        session = _session.session
        if args.clear:
            if args.urls:
                raise UsageError("give URLs or --clear, not both. Usage: " + SUBCOMMANDS["hosts"])
            session.set("hosts", None)
        elif args.urls:
            try:
                session.set("hosts", Hosts(args.urls, concurrency=args.concurrency))
            except OllamaError as exc:
                raise UsageError(exc.message) from None
        elif args.concurrency is not None:
            if session.hosts is None:
                raise UsageError("no hosts to give a concurrency to: %ollama hosts URL URL ...")
            session.set("hosts", Hosts(session.hosts, concurrency=args.concurrency))
        hosts = session.hosts
        if hosts is None:
            with client_errors():
                single = client_for().base_url
            print(f"hosts: none; embed and map_prompts use the host {single} "
                  f"(spread them over several with %ollama hosts URL URL ...)")
            return
        default = hosts.concurrency or "the call's concurrency"
        shown = ", ".join(f"{url} ({limit or default} at a time)"
                          for url, limit in zip(hosts.urls, (n for _, n in hosts.items())))
        print(f"hosts: {shown}; `%ollama status` checks them")

    # ------------------------------------------------------------------ model management

    def _progress(self, action: str, model: str, start: Any) -> None:
        from ._progress import progress_view

        view = progress_view(action, model, live=self.magics.live, rate=self.magics.update_rate,
                             widgets=self.magics.widgets_wanted)
        stream = None
        try:
            with client_errors(), _not_there(action, model):
                stream = start()
                with stream:
                    for chunk in stream:
                        view.update(chunk)
        except KeyboardInterrupt as exc:
            view.close(interrupted=True)
            raise one_line_interrupt(exc, f"{action} of {model} stopped; the server stops too") from None
        except UsageError as exc:
            view.close(error=str(exc))
            raise
        finally:
            if stream is not None:
                stream.close()
        view.close()

    def do_pull(self, args: Any, cell: str | None) -> None:
        client = self._client(args)
        model = self.magics.resolve(args.model)
        self._progress("pull", model, lambda: client.pull(model, insecure=args.insecure, stream=True))

    def do_push(self, args: Any, cell: str | None) -> None:
        client = self._client(args)
        self._progress("push", args.model, lambda: client.push(args.model, insecure=args.insecure, stream=True))

    def do_create(self, args: Any, cell: str | None) -> None:
        assert cell is not None
        if not cell.strip():
            raise UsageError("the cell is empty: write a Modelfile (FROM llama3.2, SYSTEM ..., PARAMETER ...)")
        client = self._client(args)
        self._progress("create", args.model, lambda: client.create(
            args.model, modelfile=cell, quantize=args.quantize, stream=True))

    def do_cp(self, args: Any, cell: str | None) -> None:
        with client_errors():
            self._client(args).copy(args.source, args.destination)
        print(f"copied {args.source} → {args.destination}")

    def do_rm(self, args: Any, cell: str | None) -> None:
        with client_errors(missing="nothing to delete; `%ollama models` lists the installed models"):
            self._client(args).delete(args.model)
        print(f"deleted {args.model}")

    # ------------------------------------------------------------------ embeddings

    def do_embed(self, args: Any, cell: str | None) -> Any:
        if cell is not None:
            body = interpolate(cell, self.user_ns, self.local_ns) if args.interpolate else cell
            texts: Any = [line.strip() for line in body.splitlines() if line.strip()]
            if not texts:
                raise UsageError("the cell is empty: write one text per line below %%ollama embed")
        elif args.source is not None:
            texts = self._lookup(args.source)
            if isinstance(texts, str) or not hasattr(texts, "__iter__"):
                raise UsageError(f"--from {args.source}: expected a list or Series of texts, "
                                 f"got {type(texts).__name__}")
        else:
            raise UsageError("embed needs texts: %%ollama embed [MODEL] with one text per line, "
                             "or %ollama embed [MODEL] --from VAR")
        frames = _frames()
        model = self.magics.resolve(args.model or self.magics.embed_model)
        with client_errors(model):
            frame = frames.embed(texts, model=model, client=self._client(args))
        if args.output:
            if not args.output.isidentifier():
                raise UsageError(f"-o needs a Python variable name, got {args.output!r}")
            self.user_ns[args.output] = frame
        return frame

    # ------------------------------------------------------------------ chats

    def do_chat(self, args: Any, cell: str | None) -> Any:
        if args.chat_name is None:
            if not (args.reset or args.history or args.save):
                return self._chat_list()
            args.chat_name = "default"
        if args.chat_name not in chats:
            raise UsageError(f"no chat named {args.chat_name!r}; chats: "
                             f"{', '.join(chats) or 'none yet'} (start one with %%ollama --chat NAME)")
        chat = chats.get(args.chat_name)
        if args.reset:
            chat.reset()
            print(f"chat {chat.name!r} reset")
            return None
        if args.save:
            try:
                path = chat.save(args.save)
            except OSError as exc:
                raise UsageError(f"cannot save chat {chat.name!r} to {args.save!r}: {exc.strerror}") from None
            print(f"saved {len(chat)} messages of chat {chat.name!r} to {path}")
            return None
        return chat.to_dataframe()

    def _chat_list(self) -> Any:
        if not len(chats):
            print("no chats yet (start one with %%ollama --chat NAME)")
            return None
        for name in chats:
            chat = chats.get(name)
            print(f"{name}: {len(chat)} messages, model {chat.model}")
        return None

    # ------------------------------------------------------------------ widgets

    # ------------------------------------------------------------------ reproducibility

    def do_log(self, args: Any, cell: str | None) -> Any:
        from ..client import _promptlog

        if args.switch is not None:
            _promptlog.set_enabled(args.switch)
            print(f"prompt log {'on' if args.switch else 'off'}: {_promptlog.log_path()}")
            return None
        if args.n < 1:
            raise UsageError(f"-n must be a positive number, got {args.n}. Usage: "
                             + SUBCOMMANDS["log"])
        return _frames().prompt_log(args.n, search=args.search, model=args.model)

    def do_record(self, args: Any, cell: str | None) -> Any:
        recorder = RECORDER.get("record")
        if recorder is None:  # pragma: no cover - set when the extension is loaded
            raise UsageError("recording needs the extension: %load_ext ollama_nb")
        if args.stop:
            if args.file:
                raise UsageError("give FILE or --stop, not both. Usage: " + SUBCOMMANDS["record"])
            return recorder(None)
        if not args.file:
            return recorder(...)  # the recording in progress, if any
        return recorder(args.file, append=args.append)

    def do_picker(self, args: Any, cell: str | None) -> Any:
        try:
            from ..widgets import ModelPicker
        except ImportError as exc:
            raise UsageError(f"the model picker needs ipywidgets ({exc}); pip install ipywidgets") from None
        return ModelPicker()

    def do_chatbox(self, args: Any, cell: str | None) -> Any:
        try:
            from ..widgets import ChatBox
        except ImportError as exc:
            raise UsageError(f"the chat box needs ipywidgets ({exc}); pip install ipywidgets") from None
        return ChatBox(args.chat_name, model=args.model and self.magics.resolve(args.model))

    # ------------------------------------------------------------------ the assistant

    def do_explain(self, args: Any, cell: str | None) -> None:
        from ._assistant import assist

        assist(self.magics, "explain", args.words, self.local_ns)

    def do_fix(self, args: Any, cell: str | None) -> None:
        from ._assistant import assist

        assist(self.magics, "fix", args.words, self.local_ns)

    # ------------------------------------------------------------------ aliases

    def do_alias(self, args: Any, cell: str | None) -> None:
        aliases = dict(self.magics.aliases)
        if args.rm:
            missing = [name for name in args.words if name not in aliases]
            if not args.words or missing:
                raise UsageError(f"no alias named {(missing or [''])[0]!r}; aliases: "
                                 f"{', '.join(aliases) or 'none yet'}. Usage: {SUBCOMMANDS['alias']}")
            for name in args.words:
                del aliases[name]
            self.magics.aliases = aliases
            print(f"removed alias {', '.join(args.words)}")
            return
        if len(args.words) > 1:
            name = args.words[0]
            spec = check_alias(name, shlex.join(args.words[1:]), aliases)
            self.magics.aliases = {**aliases, name: spec}
            print(f"alias {name} → {spec}")
            return
        if args.words and args.words[0] not in aliases:
            raise UsageError(f"no alias named {args.words[0]!r}; define it with %ollama alias "
                             f"{args.words[0]} MODEL [options]")
        shown = {n: aliases[n] for n in args.words} if args.words else aliases
        if not shown:
            print("no aliases yet: %ollama alias fast llama3.2 --temperature 0 --num-ctx 8192")
        for name, spec in shown.items():
            print(f"{name} → {spec}")

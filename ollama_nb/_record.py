"""``onb.record(FILE)`` and ``%ollama record FILE``: record this notebook's Ollama traffic.

A recording proxy (:mod:`ollama_nb.sandbox._proxy`) starts on loopback in front of the
server the session talks to, and the session's host and ``OLLAMA_HOST`` point at it until
the recording stops, so the magics, the widgets, the DataFrame functions, ``onb.Client()``,
the official ``ollama`` client and child processes are all recorded. The cassette replays
with ``Sandbox(replay=FILE)``, ``ollama-nb sandbox --replay FILE`` or
``pytest --ollama-replay FILE``.

A top-level module: it joins the client's session to the sandbox's proxy, which share no code.
"""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["Recording", "record"]

_lock = threading.Lock()
_active: list[Recording] = []


class Recording:
    """One recording in progress (a context manager; :meth:`stop` ends it)."""

    def __init__(self, path: str | os.PathLike[str], *, upstream: str | None = None,
                 append: bool = False) -> None:
        from .client._host import resolve_host
        from .client._session import session
        from .sandbox._proxy import RecordingProxy

        self.path = os.fspath(path)
        target = resolve_host(upstream if upstream is not None else session.host)
        #: the recorded server (without credentials: this is shown)
        self.upstream = target.base_url
        self._proxy = RecordingProxy(_with_auth(target.base_url, target.auth), self.path,
                                     append=append)
        self._saved: tuple[Any, str | None] | None = None

    @property
    def url(self) -> str:
        """Where the session talks now (the proxy)."""
        return self._proxy.url

    @property
    def count(self) -> int:
        """Exchanges written so far."""
        return self._proxy.count

    @property
    def recording(self) -> bool:
        return self._saved is not None

    def start(self) -> Recording:
        from .client._session import session

        with _lock:
            if self._saved is not None:
                return self
            if _active:
                raise RuntimeError(f"already recording to {_active[0].path}: stop it first "
                                   f"(%ollama record --stop)")
            self._proxy.start()
            self._saved = (session.host, os.environ.get("OLLAMA_HOST"))
            os.environ["OLLAMA_HOST"] = self._proxy.url
            if session.host is not None:
                session.set("host", self._proxy.url)
            _active.append(self)
        return self

    def stop(self) -> Recording:
        """Stop recording; the session talks to the server directly again."""
        from .client._session import session

        with _lock:
            if self._saved is None:
                return self
            host, env = self._saved
            self._saved = None
            if env is None:
                os.environ.pop("OLLAMA_HOST", None)
            else:
                os.environ["OLLAMA_HOST"] = env
            if host is not None:
                session.set("host", host)
            self._proxy.stop()
            if self in _active:
                _active.remove(self)
        return self

    def __enter__(self) -> Recording:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"recording via {self.url}" if self.recording else "stopped"
        from .sandbox._cassette import counted

        return (f"<Recording {self.path}: {counted(self.count)} from {self.upstream}, "
                f"{state}>")


def _with_auth(base_url: str, auth: tuple[str, str] | None) -> str:
    """``base_url`` with ``user:pass@`` again, for the proxy to send as basic auth upstream
    (the proxy never shows or writes it)."""
    if auth is None:
        return base_url
    from urllib.parse import quote

    scheme, _, rest = base_url.partition("://")
    return f"{scheme}://{quote(auth[0], safe='')}:{quote(auth[1], safe='')}@{rest}"


def record(path: str | os.PathLike[str], *, upstream: str | None = None,
           append: bool = False) -> Recording:
    """Start recording every request of this session to the cassette ``path``; returns the
    :class:`Recording` (``with onb.record(path): ...`` stops at the end of the block).

    ``upstream``: the server to record (default: the session's host, else ``OLLAMA_HOST``);
    ``append`` adds to an existing cassette instead of starting it afresh.
    """
    return Recording(path, upstream=upstream, append=append).start()


def magic_recorder(path: Any, *, append: bool = False) -> Any:
    """``%ollama record``'s seam (see ``magics._commands.RECORDER``)."""
    if path is None:
        if not _active:
            raise _usage("nothing is recording (start with %ollama record FILE)")
        done = _active[0].stop()
        from .sandbox._cassette import counted

        print(f"recording stopped: {counted(done.count)} in {done.path}")
        return None
    if path is ...:
        print(repr(_active[0]) if _active else "not recording (start with %ollama record FILE)")
        return None
    try:
        rec = record(path, append=append)
    except (RuntimeError, OSError, ValueError) as exc:
        raise _usage(str(exc)) from None
    print(f"recording to {rec.path} (from {rec.upstream}); stop with %ollama record --stop")
    return None


def _usage(message: str) -> Exception:
    from IPython.core.error import UsageError

    return UsageError(message)

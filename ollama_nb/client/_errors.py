"""The one exception tree of ollama_nb.

Catch at the level you care about::

    OllamaError                      anything this package raises on purpose
    ├── InvalidArgumentError         bad argument, caught before any request (also ValueError)
    ├── SchemaError                  an answer does not fit the schema asked for; keeps the raw text
    ├── ConnectError                 server unreachable: names the URL, says how to start Ollama
    │   └── HostsDownError           every host of a several-host run is down; keeps the finished rows
    ├── OllamaTimeout                connect or read timeout (also TimeoutError)
    ├── ResponseError                the server answered with an error status
    │   └── ModelNotFoundError       404 for a model: names it, says how to pull it
    └── StreamError                  a stream broke after it started; carries the partial result
        └── IncompleteStreamError    the stream ended (or the connection dropped) without done

Every message is one line and never contains credentials (``user:pass@`` in a
host, bearer tokens): build messages with :func:`redact`.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "OllamaError",
    "InvalidArgumentError",
    "SchemaError",
    "ConnectError",
    "HostsDownError",
    "OllamaTimeout",
    "ResponseError",
    "ModelNotFoundError",
    "StreamError",
    "IncompleteStreamError",
    "redact",
]

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    """Remove credentials (URL user-info, bearer tokens) from ``text``."""
    text = _USERINFO.sub(r"\g<scheme>", text)
    return _BEARER.sub(r"\1***", text)


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class OllamaError(Exception):
    """Base class of every error ollama_nb raises on purpose."""

    def __init__(self, message: str) -> None:
        self.message = _one_line(redact(message))
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidArgumentError(OllamaError, ValueError):
    """An argument was wrong; raised before any request is sent."""


class SchemaError(OllamaError, ValueError):
    """The answer does not fit the schema it was asked for (``schema=`` / ``--schema``).

    ``field`` names the first field that does not fit (``""``: the whole answer, e.g. not
    JSON); ``text`` is the raw answer, kept whole; ``partial`` the result it belongs to.
    """

    def __init__(self, message: str, *, field: str = "", text: str = "", partial: Any = None) -> None:
        self.field = field
        self.text = text
        self.partial = partial
        super().__init__(message)


class ConnectError(OllamaError, ConnectionError):
    """The server could not be reached at ``url``."""

    def __init__(self, url: str, reason: str = "") -> None:
        self.url = redact(url)
        self.reason = reason
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"Cannot reach Ollama at {self.url}{why}. Start it with `ollama serve`, "
            f"or set OLLAMA_HOST / %ollama host to the right URL "
            f"(no Ollama? `ollama-nb sandbox` runs a stand-in)."
        )


class HostsDownError(ConnectError):
    """Every host of a run over several hosts stopped answering (each retried with backoff).

    ``errors`` maps each host's URL to its last error; ``partial`` holds the result with
    the rows that finished (the others NA), which ``map_prompts`` also keeps in its cache.
    """

    def __init__(self, what: str, errors: dict[str, str], *, done: int, total: int,
                 partial: Any = None, resume: str = "") -> None:
        self.errors = {redact(url): reason for url, reason in errors.items()}
        self.partial = partial
        self.url = next(iter(self.errors), "")
        hosts = "; ".join(f"{url}: {reason}" for url, reason in self.errors.items())
        # the long per-host list goes last: a cut line loses only some of it (all are in .errors)
        OllamaError.__init__(self, f"{what}: every host is down; {done} of {total} rows finished "
                                   f"and are kept in the error's .partial{resume}. Last errors: "
                                   f"{hosts}")


class OllamaTimeout(OllamaError, TimeoutError):
    """A connect or read timeout expired.

    ``reason`` is what happened; ``hint`` how to give more time from Python. Callers
    with their own knobs (the magics' ``--timeout``) replace the hint.
    """

    def __init__(self, message: str, *, partial: Any = None, hint: str = "") -> None:
        self.partial = partial
        self.reason = _one_line(redact(message))
        self.hint = hint
        super().__init__(f"{message}; {hint}" if hint else message)


class ResponseError(OllamaError):
    """The server answered with an error status (or an error object)."""

    def __init__(self, error: str, status_code: int, *, body: str | None = None, hint: str = "") -> None:
        self.error = _one_line(redact(str(error)))
        self.status_code = status_code
        self.body = body
        text = f"Ollama error {status_code}: {self.error}" if status_code >= 400 else self.error
        super().__init__(f"{text} ({hint})" if hint else text)


class ModelNotFoundError(ResponseError):
    """The requested model is not on the server."""

    def __init__(self, model: str, error: str, status_code: int = 404, *, body: str | None = None) -> None:
        self.model = model
        super().__init__(error, status_code, body=body)
        self.message = _one_line(
            redact(f"Model {model!r} not found on the server ({self.error}). "
                   f"Pull it with `%ollama pull {model}` or `ollama pull {model}`.")
        )
        self.args = (self.message,)


class StreamError(OllamaError):
    """A stream failed after it started; ``partial`` holds what had arrived."""

    def __init__(self, message: str, *, partial: Any = None) -> None:
        self.partial = partial
        super().__init__(message)


class IncompleteStreamError(StreamError):
    """The stream ended, or the connection dropped, before ``done: true``."""

"""Where the server is: ``OLLAMA_HOST``-style parsing into a base URL.

Parsing follows the official Python client (``http://127.0.0.1:11434`` by default,
port 80/443 for an explicit ``http://``/``https://`` without a port, a base path
kept for reverse proxies) with a few kindnesses the Go server also has: spaces and
surrounding quotes are stripped, bare IPv6 literals are accepted, and the
"all interfaces" addresses ``0.0.0.0`` / ``::`` are mapped to loopback so a value
meant for ``ollama serve`` also works for a client.

Credentials in the URL (``http://user:pass@host``) become HTTP basic auth and are
never part of :attr:`Host.base_url`, so they cannot leak into messages or reprs.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from ._errors import InvalidArgumentError

__all__ = ["DEFAULT_HOST", "Host", "HostText", "parse_host", "resolve_host"]

DEFAULT_HOST = "http://127.0.0.1:11434"
_DEFAULT_PORT = 11434
_SCHEME_PORTS = {"http": 80, "https": 443}
_FORM = "expected [http[s]://]host[:port][/path], e.g. 127.0.0.1:11434 or https://example.com/ollama"


@dataclass(frozen=True)
class Host:
    """A resolved server address: ``base_url`` has no credentials and no trailing slash."""

    base_url: str
    auth: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        creds = ", auth=<hidden>" if self.auth else ""
        return f"Host({self.base_url!r}{creds})"


class HostText(str):
    """A host setting as typed (credentials included, the client needs them) whose ``repr``
    hides ``user:pass@``: reprs end up in ``%config`` listings, logs and saved notebooks."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(_safe(str(self)))


def _bracket(host: str) -> str:
    """IPv6 literals need brackets in a URL; all-interfaces addresses become loopback."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "[::1]" if address.version == 6 else "127.0.0.1"
    return f"[{host}]" if address.version == 6 else host


def parse_host(value: str | None, *, source: str = "host") -> Host:
    """Parse an ``OLLAMA_HOST``-style value; ``source`` names it in error messages.

    >>> parse_host("example.com:56789/path/").base_url
    'http://example.com:56789/path'
    """
    text = (value or "").strip().strip("\"'").strip()
    if not text:
        return Host(DEFAULT_HOST)

    scheme, sep, rest = text.partition("://")
    if sep:
        scheme = scheme.lower()
        if scheme not in _SCHEME_PORTS:
            raise InvalidArgumentError(
                f"{source}: unsupported scheme {scheme!r} in {_safe(text)!r}; {_FORM}"
            )
        if not rest.strip("/"):
            raise InvalidArgumentError(f"{source}: no host in {_safe(text)!r}; {_FORM}")
        default_port = _SCHEME_PORTS[scheme]
    else:
        scheme, rest, default_port = "http", text, _DEFAULT_PORT

    # a bare IPv6 literal (``::1``, ``::``) has colons that are not a port separator
    hostport, slash, path = rest.partition("/")
    userinfo, at, bare = hostport.rpartition("@")
    try:
        if ":" in bare and not bare.startswith("[") and ipaddress.ip_address(bare).version == 6:
            rest = f"{userinfo}{at}[{bare}]{slash}{path}"
    except ValueError:
        pass

    try:
        split = urlsplit(f"{scheme}://{rest}")
        port = split.port
        hostname = split.hostname
    except ValueError as exc:
        raise InvalidArgumentError(f"{source}: {_safe(text)!r} is not valid ({exc}); {_FORM}") from None
    if split.query or split.fragment:
        raise InvalidArgumentError(f"{source}: {_safe(text)!r} has a query or fragment; {_FORM}")

    host = _bracket(hostname) if hostname else "127.0.0.1"
    port = port if port is not None else default_port
    base = f"{scheme}://{host}:{port}"
    base_path = split.path.strip("/")
    if base_path:
        base = f"{base}/{base_path}"

    auth = None
    if split.username is not None or split.password is not None:
        auth = (unquote(split.username or ""), unquote(split.password or ""))
    return Host(base, auth)


def resolve_host(host: str | None = None) -> Host:
    """``host`` if given, else ``OLLAMA_HOST``, else ``http://127.0.0.1:11434``."""
    if host is not None and str(host).strip():
        return parse_host(str(host), source="host")
    env = os.environ.get("OLLAMA_HOST")
    if env is not None and env.strip():
        return parse_host(env, source="OLLAMA_HOST")
    return Host(DEFAULT_HOST)


def _safe(text: str) -> str:
    """The value with any ``user:pass@`` removed, for error messages."""
    scheme, sep, rest = text.partition("://")
    body = rest if sep else text
    hostport, slash, path = body.partition("/")
    if "@" in hostport:
        hostport = "***@" + hostport.rpartition("@")[2]
    body = f"{hostport}{slash}{path}"
    return f"{scheme}{sep}{body}" if sep else body

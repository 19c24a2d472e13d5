"""What a failing request must not leave behind: file descriptors, threads, TCP connections.

:class:`Snapshot` counts this process's open fds, live threads and TCP sockets that
are not listening (both ends of a loopback connection belong to this process when the
server runs in a test thread, so a connection the client forgot shows up twice).
:func:`no_leaks` takes a snapshot, runs the block, closes the session's cached
clients, then waits briefly for daemon threads and sockets to wind down before
comparing.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Snapshot", "no_leaks", "tcp_connections"]

_LISTEN = "0A"


def _socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed between listdir and readlink
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def tcp_connections() -> list[tuple[str, str, str]]:
    """(local, remote, state) of this process's TCP sockets that are not listening."""
    mine = _socket_inodes()
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
            if inode in mine and state != _LISTEN and inode != "0":
                found.append((local, remote, state))
    return found


@dataclass(frozen=True)
class Snapshot:
    fds: int
    threads: tuple[str, ...]
    connections: tuple[tuple[str, str, str], ...]

    @classmethod
    def take(cls) -> Snapshot:
        return cls(len(os.listdir("/proc/self/fd")),
                   tuple(sorted(t.name for t in threading.enumerate())),
                   tuple(tcp_connections()))

    def grown(self, before: Snapshot, *, fd_slack: int, thread_slack: int,
              conn_slack: int = 0) -> list[str]:
        """Why this snapshot has more than ``before`` allows (empty: fine)."""
        problems = []
        if self.fds > before.fds + fd_slack:
            problems.append(f"fds {before.fds} -> {self.fds}")
        if len(self.threads) > len(before.threads) + thread_slack:
            extra = sorted(set(self.threads) - set(before.threads)) or list(self.threads)
            problems.append(f"threads {len(before.threads)} -> {len(self.threads)}: {extra}")
        if len(self.connections) > len(before.connections) + conn_slack:
            problems.append(f"tcp connections {len(before.connections)} -> "
                            f"{len(self.connections)}: {list(self.connections)}")
        return problems


def settle(before: Snapshot, *, fd_slack: int = 0, thread_slack: int = 0,
           wait: float = 5.0) -> list[str]:
    """Close cached clients, then wait up to ``wait`` s for counts to return to ``before``."""
    from ollama_nb.client._session import session

    for client in list(session._clients.values()):
        client.close()
    deadline = time.monotonic() + wait
    while True:
        gc.collect()
        problems = Snapshot.take().grown(before, fd_slack=fd_slack, thread_slack=thread_slack)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.05)


@contextlib.contextmanager
def no_leaks(*, fd_slack: int = 0, thread_slack: int = 0, wait: float = 5.0) -> Iterator[Snapshot]:
    """Assert that the block leaves no more fds, threads or TCP connections than it found."""
    before = Snapshot.take()
    yield before
    problems = settle(before, fd_slack=fd_slack, thread_slack=thread_slack, wait=wait)
    assert not problems, "left behind: " + "; ".join(problems)

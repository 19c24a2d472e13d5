"""``AsyncClient`` driven from synchronous test code, so one suite checks both clients.

:class:`EventLoopThread` runs an asyncio loop in a thread; :class:`Blocking` wraps an
``AsyncClient`` made on it so that each method call is awaited there and its result
(or exception) returned to the caller; a :class:`Stream` it returns is iterated the same
way, one ``__anext__`` at a time. Nothing is faked: the client, its sockets and its
streams are the real ones; only who waits for them differs.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine
from typing import Any

from ollama_nb import AsyncClient
from ollama_nb.client._stream import Stream


class EventLoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-event-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class BlockingStream:
    """A stream from ``AsyncClient``, read with ``for`` from another thread."""

    def __init__(self, stream: Stream[Any], runner: EventLoopThread) -> None:
        self._stream = stream
        self._runner = runner

    def __iter__(self) -> BlockingStream:
        return self

    def __next__(self) -> Any:
        try:
            return self._runner.run(self._stream.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def result(self) -> Any:
        return self._runner.run(self._stream.aresult())

    def close(self) -> None:
        self._runner.run(self._stream.aclose())

    def __enter__(self) -> BlockingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Blocking:
    """An ``AsyncClient`` whose coroutine methods are awaited on ``runner``'s loop."""

    def __init__(self, runner: EventLoopThread, *args: Any, **kwargs: Any) -> None:
        self._runner = runner
        self._client = AsyncClient(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if not inspect.iscoroutinefunction(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            result = self._runner.run(value(*args, **kwargs))
            return BlockingStream(result, self._runner) if isinstance(result, Stream) else result

        return call

    def close(self) -> None:
        self._runner.run(self._client.close())

    def __enter__(self) -> Blocking:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

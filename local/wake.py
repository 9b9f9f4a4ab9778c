"""A stable front port per app that wakes a sleeping app on the first request.

The app itself listens on a fresh internal port each time it is (re)started;
the deploy's `instanceUrl` names this proxy, so it stays the same while the
app sleeps, wakes, or the platform restarts.
"""

import asyncio
import socket
import threading
from collections.abc import Callable

from chalicelib.log import logger

CHUNK = 64 * 1024

# Returns the (host, port) the app listens on now, waking it if needed,
# or None when it cannot serve.
Waker = Callable[[], tuple[str, int] | None]


class WakeProxy:
    """A TCP proxy on 127.0.0.1 in its own event loop thread."""

    def __init__(
        self, waker: Waker, touch: Callable[[], None], port: int | None = None
    ) -> None:
        self._waker = waker
        self._touch = touch
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self.port = self._bind(port)
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._thread.start()
        self._ready.wait(5)

    def _bind(self, port: int | None) -> int:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind(("127.0.0.1", port or 0))
        except OSError:
            logger.warning("Proxy port taken; using a new one", port=port)
            self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self._socket.setblocking(False)
        return int(self._socket.getsockname()[1])

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def boot() -> None:
            self._server = await asyncio.start_server(self._handle, sock=self._socket)
            self._ready.set()

        self._loop.run_until_complete(boot())
        self._loop.run_forever()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._touch()
        target = await self._loop.run_in_executor(None, self._waker)
        if target is None:
            writer.write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )
            await _close(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.write(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )
            await _close(writer)
            return
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer)
        )

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> None:
        try:
            while chunk := await source.read(CHUNK):
                self._touch()
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            await _close(sink)

    def close(self) -> None:
        async def shut() -> None:
            if self._server is not None:
                self._server.close()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
        await writer.wait_closed()
    except (ConnectionError, OSError):
        pass

"""The HTTP server's protocol: uvicorn's httptools protocol, one `write` per answer.

uvicorn writes a response's status line and headers when the application sends
`http.response.start`, and its body when it sends `http.response.body`: two `write`
system calls for every answer, and on loopback or a LAN each one also runs the
kernel's TCP send path (a native profile of a booking under load put `write` at 13%
of the worker's busy samples). `OneWriteProtocol` gives uvicorn a transport that
gathers what is written during one turn of the event loop and sends it in one call
at the end of that turn (`loop.call_soon`): an answer sent in one go, as every
huimin answer is, leaves in one `write`, and the bytes, their order and the moment
the client can read them are the same.

What may not wait is never held: closing flushes first, aborting drops what was
gathered (as aborting drops the transport's own buffer), and the transport's
buffer size counts the gathered bytes, and a long body streamed without a pause is
sent as soon as 16 KiB have gathered, so flow control (`pause_writing`) sees it as
before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Bytes gathered before they are sent at once anyway: well above any huimin answer
# but a download, and far below the transport's high-water mark (64 KiB by default).
GATHER_LIMIT = 16 * 1024


class _GatheringTransport:
    """A transport whose writes in one loop turn reach the real one as one write.
    Everything else is the real transport's."""

    __slots__ = ("_transport", "_loop", "_pending", "_size")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= GATHER_LIMIT:
            # A long body streamed without a pause: sent now, so that the real
            # transport's flow control sees it as it would have.
            self._flush()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        self._size = 0
        if self._transport.is_closing():
            return  # closed or aborted meanwhile: the real transport would drop it too
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = []
        self._size = 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `_GatheringTransport` (module docstring)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(
            _GatheringTransport(transport, self.loop))  # type: ignore[arg-type]

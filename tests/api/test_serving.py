"""The server's protocol sends each answer in one write (`api.serving`), and loses,
reorders or delays nothing doing so."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import uvicorn
from typer.testing import CliRunner

from api import cli
from api.serving import GATHER_LIMIT, OneWriteProtocol, _GatheringTransport
from tests.live import free_port


class _Recorder:
    """A transport that records what reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.9", 4242)}.get(name, default)


async def test_writes_of_one_turn_reach_the_transport_as_one_in_order():
    real = _Recorder()
    gathering = _GatheringTransport(real, asyncio.get_running_loop())
    gathering.write(b"HTTP/1.1 200 OK\r\n\r\n")
    gathering.write(memoryview(b"{}"))
    assert real.writes == [] and gathering.get_write_buffer_size() == 21
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    gathering.write(b"next")
    await asyncio.sleep(0)
    assert real.writes[1:] == [b"next"]
    # Anything else is the real transport's.
    assert gathering.get_extra_info("peername") == ("127.0.0.9", 4242)


async def test_closing_sends_what_was_gathered_first_and_aborting_drops_it():
    loop = asyncio.get_running_loop()
    real = _Recorder()
    gathering = _GatheringTransport(real, loop)
    gathering.write(b"last answer")
    gathering.close()
    assert real.writes == [b"last answer"] and real.closed

    real = _Recorder()
    gathering = _GatheringTransport(real, loop)
    gathering.write(b"never sent")
    gathering.abort()
    await asyncio.sleep(0)
    assert real.writes == [] and real.aborted


async def test_a_long_stream_is_sent_as_it_gathers_not_held_to_the_end_of_the_turn():
    real = _Recorder()
    gathering = _GatheringTransport(real, asyncio.get_running_loop())
    chunk = b"x" * 4096
    for _ in range(GATHER_LIMIT // len(chunk)):
        gathering.write(chunk)
    assert real.writes == [chunk * (GATHER_LIMIT // len(chunk))]  # at the limit, at once
    gathering.write(b"tail")
    await asyncio.sleep(0)
    assert real.writes[1:] == [b"tail"] and gathering.get_write_buffer_size() == 0


class _CountingProtocol(OneWriteProtocol):
    """`OneWriteProtocol`, counting the writes that reach the socket's transport."""

    real_writes: list[bytes] = []

    def connection_made(self, transport):  # noqa: ANN001
        original = transport.write

        def counted(data):  # noqa: ANN001, ANN202
            type(self).real_writes.append(bytes(data))
            return original(data)

        transport.write = counted
        super().connection_made(transport)


async def _app(scope, receive, send):  # noqa: ANN001
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        for n in range(40):
            await send({"type": "http.response.body", "body": b"%04d" % n * 1024,
                        "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def _served():
    port = free_port()
    config = uvicorn.Config(_app, host="127.0.0.1", port=port, http=_CountingProtocol,
                            lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_each_answer_on_a_kept_alive_connection_is_one_write():
    _CountingProtocol.real_writes = []
    async with _served() as base, httpx.AsyncClient(base_url=base) as client:
        for n in range(5):
            r = await client.get(f"/answer/{n}")
            assert r.status_code == 200 and r.text == f"/answer/{n}"
    writes = _CountingProtocol.real_writes
    assert len(writes) == 5, writes  # headers and body together, each time
    assert all(w.startswith(b"HTTP/1.1 200 OK\r\n") for w in writes)
    assert writes[0].endswith(b"\r\n\r\n/answer/0")


async def test_a_streamed_body_and_a_closing_connection_arrive_whole():
    _CountingProtocol.real_writes = []
    async with _served() as base:
        async with httpx.AsyncClient(base_url=base) as client:
            r = await client.get("/stream")
        assert r.status_code == 200
        assert r.content == b"".join(b"%04d" % n * 1024 for n in range(40))
        # The client says it will close: the answer is still sent before the close.
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 5)  # until the server closes
        writer.close()
        assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(b"\r\n\r\n/bye")


def test_huimin_serve_uses_the_one_write_protocol(monkeypatch):
    seen: dict = {}
    monkeypatch.setattr(cli, "run_migrations", lambda: None)
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **kw: seen.update(kw))
    result = CliRunner().invoke(cli.app, ["serve", "--port", "8999"])
    assert result.exit_code == 0, result.output
    assert seen["http"] is OneWriteProtocol

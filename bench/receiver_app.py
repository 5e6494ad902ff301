"""The benchmark's webhook receiver: answers every POST with 204 (and GET / with 200,
for the readiness wait). No verification: bench/outbox.py measures the sender."""


async def app(scope, receive, send):  # noqa: ANN001, ANN201 - a bare ASGI app
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    status = 204 if scope["method"] == "POST" else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})

"""An independent wss:// client for the TLS tests (python websockets).

usage: wss_client.py URL CA_FILE MODE [ARGS]
  echo                      a text and a binary message come back unchanged
  large                     messages of a few MiB come back unchanged
  large-uncompressed        the same, without offering permessage-deflate
  backpressure COUNT SIZE GO_FILE
                            send COUNT messages without reading; start
                            reading once GO_FILE exists; check every echo
Prints "ok" on success; exits non-zero otherwise.
"""

import asyncio
import os
import ssl
import sys

from websockets.asyncio.client import connect


def payload(i, size):
    return bytes((i * 7 + k) % 251 for k in range(256)) * (size // 256) + bytes(size % 256)


async def echo(ws):
    await ws.send("hello over tls")
    assert await ws.recv() == "hello over tls"
    data = payload(1, 1000)
    await ws.send(data)
    assert await ws.recv() == data


async def large(ws):
    for i, size in enumerate([1 << 20, 3 << 20, (4 << 20) + 17]):
        data = payload(i, size)
        await ws.send(data)
        assert await ws.recv() == data, f"message of {size} bytes differs"
    text = "é" * (1 << 20)
    await ws.send(text)
    assert await ws.recv() == text


async def backpressure(ws, count, size, go_file):
    messages = [payload(i, size) for i in range(16)]

    async def send_all():
        for i in range(count):
            await ws.send(messages[i % 16])

    sender = asyncio.create_task(send_all())
    while not os.path.exists(go_file):
        await asyncio.sleep(0.01)
    for i in range(count):
        assert await ws.recv() == messages[i % 16], f"echo {i} differs"
    await sender


async def main():
    url, ca, mode, *rest = sys.argv[1:]
    context = ssl.create_default_context(cafile=ca)
    # max_queue=1: the client reads no further ahead than one message, so
    # a client that does not call recv() stops reading from its socket.
    compression = None if mode == "large-uncompressed" else "deflate"
    async with connect(url, ssl=context, max_size=None, max_queue=1,
                       write_limit=2**16, open_timeout=30,
                       compression=compression) as ws:
        if mode == "echo":
            await echo(ws)
        elif mode in ("large", "large-uncompressed"):
            await large(ws)
        elif mode == "backpressure":
            await backpressure(ws, int(rest[0]), int(rest[1]), rest[2])
        else:
            raise SystemExit(f"unknown mode {mode}")
        assert ws.response.headers.get("Upgrade", "").lower() == "websocket"
    print("ok", flush=True)


asyncio.run(main())

"""An independent wss:// echo server for the TLS tests (python websockets).

usage: wss_server.py CERT_FILE KEY_FILE
Listens on 127.0.0.1 (ephemeral port), prints "listening on 127.0.0.1:PORT",
and echoes every message until killed.
"""

import asyncio
import ssl
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    cert, key = sys.argv[1:3]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    async with serve(echo, "127.0.0.1", 0, ssl=context, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on 127.0.0.1:{port}", flush=True)
        await asyncio.Future()


asyncio.run(main())

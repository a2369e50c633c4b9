"""TLS connections read through a small buffer, and whole answers still arrive."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import hashlib
import os
import ssl
from pathlib import Path

import pytest

from wedsync_operator.handlers.settings import TLS_READ_BUFFER, shrink_tls_read_buffers


async def test_a_large_answer_arrives_whole_through_the_small_read_buffer(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asyncio.sslproto.SSLProtocol, "max_size", 256 * 1024)
    shrink_tls_read_buffers()
    crt, key = certificate
    payload = os.urandom(3 * 1024 * 1024)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        writer.close()

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(crt, key)
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    client_context = ssl.create_default_context(cafile=str(crt))
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context)
        protocol = writer.transport._ssl_protocol  # type: ignore[attr-defined]
        received = await reader.read(-1)
        writer.close()

    assert len(protocol._ssl_buffer) == TLS_READ_BUFFER == 32 * 1024
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()

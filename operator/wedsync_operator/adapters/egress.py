"""The network side of the administrator's allowed endpoints: addresses after DNS.

A name that passes the allow-list may still resolve to a link-local or metadata address
(a tenant's own DNS record, or one that changes between two requests). The HTTP session
resolves through :class:`GuardedResolver`, so every connection it opens is checked on
the addresses it is about to use; data-store URLs are checked by :func:`check_resolved`
before a client is made or used.
"""

from __future__ import annotations

import asyncio
import re
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from wedsync_operator.model.endpoints import endpoints_of, refused_address

__all__ = ["EgressRefused", "GuardedResolver", "answer_shape", "check_resolved"]


class EgressRefused(OSError):
    """A connection the operator will not open; the text is the operator's own words."""


class GuardedResolver(AbstractResolver):
    """Resolves as aiohttp does, and refuses a name with any refused address."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if (reason := refused_address(result["host"])) is not None:
                raise EgressRefused(f"{host}: {reason}")
        return results

    async def close(self) -> None:
        await self._inner.close()


async def check_resolved(url: str, *, timeout_s: float = 5.0) -> None:
    """Raise :class:`EgressRefused` if a host of ``url`` resolves to a refused address
    (or does not resolve within ``timeout_s``)."""
    loop = asyncio.get_running_loop()
    for endpoint in endpoints_of(url):
        try:
            async with asyncio.timeout(timeout_s):
                infos = await loop.getaddrinfo(
                    endpoint.host, endpoint.port, type=socket.SOCK_STREAM
                )
        except TimeoutError:
            raise EgressRefused(f"{endpoint.host} did not resolve within {timeout_s:g}s") from None
        except OSError as exc:
            raise EgressRefused(f"{endpoint.host} does not resolve: {exc.strerror}") from None
        for *_, address in infos:
            if (reason := refused_address(str(address[0]))) is not None:
                raise EgressRefused(f"{endpoint.host}: {reason}")


_MEDIA_TYPE = re.compile(r"[\w.+-]{1,64}/[\w.+-]{1,64}")


def answer_shape(status: int, content_type: str | None, body: bytes) -> str:
    """All that status, conditions and Events may say of a remote answer: its status,
    media type and size. Its bytes go to the debug log at most."""
    parts = [f"HTTP {status}"]
    if content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        parts.append(media if _MEDIA_TYPE.fullmatch(media) else "an unrecognised content type")
    parts.append(f"{len(body)} bytes")
    return ", ".join(parts)

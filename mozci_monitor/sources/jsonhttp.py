"""GET JSON over an injected aiohttp session, through a `PoliteSource`.

One attempt = one request. Status codes become the source exceptions the
politeness layer understands: 404 -> NotFound, 429 and 5xx -> TransientError
(with Retry-After), other 4xx -> SourceError; timeouts and connection errors
-> TransientError. Redirects are followed (Taskcluster artifacts redirect to
storage).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from mozci_monitor.redact import redact_text, redact_url

from .errors import NotFound, SourceError, TransientError
from .politeness import USER_AGENT, PoliteSource, parse_retry_after

Json = Any
QueryParams = Mapping[str, str | int]
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class BoundedBody:
    """A response body read up to a limit; `truncated` when there was more."""

    data: bytes
    truncated: bool


def create_session(
    *, user_agent: str = USER_AGENT, timeout: float = 60.0, **kwargs: Any
) -> aiohttp.ClientSession:
    """A session sending the mozci-monitor User-Agent on every request.

    Pass it to every client (Taskcluster's own calls use the session's default
    headers, so this is what makes them identify themselves too).
    """
    headers = {"User-Agent": user_agent, **kwargs.pop("headers", {})}
    return aiohttp.ClientSession(
        headers=headers, timeout=aiohttp.ClientTimeout(total=timeout), **kwargs
    )


class JsonHttp:
    """Polite JSON GETs against one source."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        gate: PoliteSource,
        *,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._session = session
        self.gate = gate
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}

    @property
    def source(self) -> str:
        return self.gate.name

    async def get_json(self, url: str, params: QueryParams | None = None) -> Json:
        full_url = _with_params(url, params)
        return await self.gate.call(lambda: self._get_once(full_url), url=full_url)

    async def get_bytes(self, url: str, *, max_bytes: int) -> BoundedBody:
        """The body as bytes, never more than `max_bytes` read (the rest is not downloaded)."""
        return await self.gate.call(lambda: self._get_once(url, max_bytes=max_bytes), url=url)

    async def _get_once(self, url: str, *, max_bytes: int | None = None) -> Any:
        safe_url = redact_url(url)
        try:
            async with self._session.get(
                url, headers=self._headers, allow_redirects=True
            ) as response:
                self._raise_for_status_404_429_5xx(response, safe_url)
                if response.status >= 400:
                    body = redact_text((await response.text())[:300])
                    raise SourceError(
                        f"request refused: {body}",
                        source=self.source,
                        url=safe_url,
                        status=response.status,
                    )
                if max_bytes is not None:
                    return await _read_bounded(response, max_bytes)
                try:
                    return await response.json(content_type=None)
                except ValueError as exc:
                    raise SourceError(
                        f"answer is not JSON: {exc}",
                        source=self.source,
                        url=safe_url,
                        status=response.status,
                    ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise TransientError(
                f"cannot connect: {redact_text(str(exc))}",
                source=self.source,
                url=safe_url,
                request_sent=False,
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(
                f"{type(exc).__name__}: {redact_text(str(exc))}", source=self.source, url=safe_url
            ) from exc

    def _raise_for_status_404_429_5xx(
        self, response: aiohttp.ClientResponse, safe_url: str
    ) -> None:
        if response.status == 404:
            raise NotFound("not found", source=self.source, url=safe_url, status=404)
        if response.status == 429 or response.status >= 500:
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now=self.gate.now()
            )
            raise TransientError(
                response.reason or "server error",
                source=self.source,
                url=safe_url,
                status=response.status,
                retry_after=retry_after,
            )


async def _read_bounded(response: aiohttp.ClientResponse, max_bytes: int) -> BoundedBody:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            # Stop reading: leaving the context closes the connection, so the rest of a
            # huge artifact is never downloaded.
            return BoundedBody(b"".join(chunks)[:max_bytes], truncated=True)
    return BoundedBody(b"".join(chunks), truncated=False)


def _with_params(url: str, params: QueryParams | None) -> str:
    if not params:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{urlencode({k: str(v) for k, v in params.items()})}"

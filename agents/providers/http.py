"""The shared upstream HTTP client, the SSE reading and the helpers every adapter uses."""

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, asynccontextmanager, contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from httpx_sse import EventSource, ServerSentEvent, SSEError

from agents.providers.addresses import GuardedTransport
from agents.providers.base import UpstreamError

MAX_EVENT_BYTES = 1024 * 1024
# Only the start of an error body is read: users see at most DETAIL_CHARS of it.
MAX_ERROR_BYTES = 64 * 1024
DETAIL_CHARS = 300
UTF8_BOM = b"\xef\xbb\xbf"

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = (
    weakref.WeakKeyDictionary()
)


def upstream_client() -> httpx.AsyncClient:
    """The process's pooled client (one per event loop), sized for many streams.

    httpx's default pool holds 100 connections, so stream 101 would wait for
    one to free up. Every connection passes the address guard
    (agents.providers.addresses): no upstream call may bypass this client.
    """
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        limits = httpx.Limits(
            max_connections=settings.UPSTREAM_MAX_CONNECTIONS,
            max_keepalive_connections=min(100, settings.UPSTREAM_MAX_CONNECTIONS),
            keepalive_expiry=30,
        )
        # No proxies from the environment: a proxy would connect wherever it is asked,
        # past the address guard.
        client = httpx.AsyncClient(
            transport=GuardedTransport(limits),
            timeout=upstream_timeout(),
            follow_redirects=False,
            trust_env=False,
        )
        _clients[loop] = client
    return client


def upstream_timeout(read: float | None = None) -> httpx.Timeout:
    return httpx.Timeout(
        connect=settings.UPSTREAM_CONNECT_TIMEOUT,
        read=read if read is not None else settings.UPSTREAM_READ_TIMEOUT,
        write=30,
        pool=settings.UPSTREAM_CONNECT_TIMEOUT,
    )


async def close_upstream_clients() -> None:
    for client in list(_clients.values()):
        await client.aclose()
    _clients.clear()


class CappedStream(httpx.AsyncByteStream):
    """Wraps a response body: drops a leading BOM and caps the size of one event.

    httpx-sse would otherwise lose the first event behind a BOM and buffer a
    line or event of any size.
    """

    def __init__(self, stream: httpx.AsyncByteStream, max_event_bytes: int):
        self._stream = stream
        self._max = max_event_bytes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        first = True
        pending = 0
        tail = b""
        async for chunk in self._stream:
            if first:
                first = False
                chunk = chunk.removeprefix(UTF8_BOM)
            window = tail + chunk
            boundary = max(window.rfind(b"\n\n"), window.rfind(b"\r\n\r\n"), window.rfind(b"\r\r"))
            if boundary < 0:
                pending += len(chunk)
            else:
                pending = len(window) - boundary
            if pending > self._max:
                raise UpstreamError(
                    _("The platform sent an event larger than %(size)d KiB; the reply was cut off there.")
                    % {"size": self._max // 1024}
                )
            tail = window[-3:]
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


async def iter_sse(
    response: httpx.Response, max_event_bytes: int = MAX_EVENT_BYTES
) -> AsyncIterator[ServerSentEvent]:
    """Events of an SSE response, skipping comment-only and empty-data events."""
    response.stream = CappedStream(response.stream, max_event_bytes)
    try:
        async for event in EventSource(response).aiter_sse():
            if event.data:
                yield event
    except SSEError as exc:
        raise UpstreamError(_("The platform answered with something other than an event stream.")) from exc
    except httpx.ReadTimeout as exc:
        raise UpstreamError(_("The platform stopped sending for too long; the reply is incomplete.")) from exc
    except httpx.TransportError as exc:
        raise UpstreamError(_("The connection to the platform broke off; the reply is incomplete.")) from exc


def as_text(value: Any) -> str:
    """`value` when a platform sent a string there, else ""."""
    return value if isinstance(value, str) else ""


def parse_json_object(data: str) -> dict[str, Any] | None:
    """`data` as a JSON object, or None when it is not one."""
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def read_capped(response: httpx.Response, max_bytes: int | None = None, *, platform: str) -> bytes:
    """Read a streamed response's (decoded) body, refusing it once it passes `max_bytes`.

    `max_bytes` defaults to UPSTREAM_MAX_JSON_BYTES. Afterwards `response.text`
    and `response.json()` work as after `aread()`; the caller's `stream()` block closes the response.
    """
    max_bytes = max_bytes or settings.UPSTREAM_MAX_JSON_BYTES
    chunks, size = [], 0
    with transport_errors(platform):
        async with aclosing(response.aiter_bytes()) as body:
            async for chunk in body:
                size += len(chunk)
                if size > max_bytes:
                    raise UpstreamError(
                        _("%(platform)s sent a response larger than %(size)s KiB; it was not read.")
                        % {
                            "platform": platform,
                            "size": number_format(max_bytes // 1024, force_grouping=True),
                        }
                    )
                chunks.append(chunk)
    # What `aread()` does, with the cap: httpx keeps a read body in `_content`.
    response._content = b"".join(chunks)
    return response._content


async def read_error_body(response: httpx.Response, *, platform: str) -> None:
    """Read the start of an error response's body (at most MAX_ERROR_BYTES) and drop the rest."""
    chunks, size = [], 0
    with transport_errors(platform):
        async with aclosing(response.aiter_bytes()) as body:
            async for chunk in body:
                chunks.append(chunk[: MAX_ERROR_BYTES - size])
                size += len(chunks[-1])
                if size >= MAX_ERROR_BYTES:
                    break
        await response.aclose()
    response._content = b"".join(chunks)


async def capped_request(
    method: str,
    url: str,
    *,
    platform: str,
    max_bytes: int | None = None,
    client: httpx.AsyncClient | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """`client.request(...)`, reading the body with a cap (an error body, only its start).

    `client` is the adapter's (`Provider.client`); by default the process's guarded client.
    """
    client = client or upstream_client()
    async with client.stream(method, url, **kwargs) as response:
        if response.status_code >= 400:
            await read_error_body(response, platform=platform)
        else:
            await read_capped(response, max_bytes, platform=platform)
    return response


def error_detail(response: httpx.Response) -> str:
    """The platform's own words from an error body (FastAPI-style or plain text), at most DETAIL_CHARS."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:DETAIL_CHARS] if text and not text.lstrip().startswith("<") else ""
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:DETAIL_CHARS]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"][:DETAIL_CHARS]
            if isinstance(value, list) and value:
                first = value[0]
                if isinstance(first, dict) and isinstance(first.get("msg"), str):
                    return first["msg"][:DETAIL_CHARS]
    return ""


def retry_after_seconds(response: httpx.Response) -> float | None:
    """How long a response asks to wait before the next request, or None when it does not say.

    `Retry-After` is seconds or an HTTP date. `X-RateLimit-Reset` is read as
    seconds to wait when small and as the Unix time (seconds, or milliseconds)
    when the window resets when it looks like one; platforms use both.
    """
    headers = response.headers
    value = headers.get("retry-after", "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - time.time())
    value = headers.get("x-ratelimit-reset", "").strip()
    try:
        reset = float(value)
    except ValueError:
        return None
    if reset > 1e12:
        reset /= 1000
    if reset > 1e9:
        reset -= time.time()
    return max(0.0, reset)


def http_error(response: httpx.Response, platform: str) -> UpstreamError:
    """One clear message per HTTP failure class, with the platform's words where given."""
    status = response.status_code
    detail = error_detail(response)
    said = " " + _("The platform said: %(detail)s") % {"detail": detail} if detail else ""
    if status == 401:
        return UpstreamError(
            _("%(platform)s rejected this credential (HTTP 401). An admin needs to check its API key.")
            % {"platform": platform},
            status=status,
        )
    if status == 403:
        return UpstreamError(
            _("%(platform)s refused access to this agent with this credential (HTTP 403).")
            % {"platform": platform}
            + said,
            status=status,
        )
    if status == 404:
        return UpstreamError(
            _(
                "%(platform)s does not know this agent or address (HTTP 404). "
                "An admin needs to check the agent id and base URL."
            )
            % {"platform": platform}
            + said,
            status=status,
        )
    if status in (400, 422):
        return UpstreamError(
            _("%(platform)s did not accept the request (HTTP %(status)d).")
            % {"platform": platform, "status": status}
            + said,
            status=status,
        )
    if status == 429:
        return UpstreamError(
            _("%(platform)s is rate limiting this account (HTTP 429). Try again in a moment.")
            % {"platform": platform},
            retryable=True,
            status=status,
            retry_after=retry_after_seconds(response),
        )
    if status >= 500:
        return UpstreamError(
            _("%(platform)s had a server error (HTTP %(status)d). Try again in a moment.")
            % {"platform": platform, "status": status}
            + said,
            retryable=status in (502, 503, 504),
            status=status,
            retry_after=retry_after_seconds(response),
        )
    return UpstreamError(
        _("%(platform)s answered with HTTP %(status)d.") % {"platform": platform, "status": status} + said,
        status=status,
    )


@contextmanager
def transport_errors(platform: str) -> Iterator[None]:
    """Connection failures as UpstreamError, in words a user can act on."""
    try:
        yield
    except httpx.ConnectTimeout as exc:
        raise UpstreamError(
            _("%(platform)s did not answer in time (connect timeout).") % {"platform": platform},
            retryable=True,
        ) from exc
    except httpx.ConnectError as exc:
        raise UpstreamError(
            _("Could not connect to %(platform)s. Check the base URL.") % {"platform": platform},
            retryable=True,
        ) from exc
    except httpx.ReadTimeout as exc:
        raise UpstreamError(
            _("%(platform)s stopped answering (read timeout).") % {"platform": platform}
        ) from exc
    except httpx.TransportError as exc:
        raise UpstreamError(
            _("The connection to %(platform)s failed: %(error)s.")
            % {"platform": platform, "error": type(exc).__name__}
        ) from exc
    except httpx.DecodingError as exc:
        raise UpstreamError(
            _("%(platform)s sent an answer that could not be decoded.") % {"platform": platform}
        ) from exc


@asynccontextmanager
async def open_stream(
    method: str, url: str, *, platform: str, client: httpx.AsyncClient | None = None, **kwargs: Any
) -> AsyncIterator[httpx.Response]:
    """A streamed request whose HTTP and connection failures become UpstreamError."""
    client = client or upstream_client()
    with transport_errors(platform):
        async with client.stream(method, url, **kwargs) as response:
            if response.status_code >= 400:
                await read_error_body(response, platform=platform)
                raise http_error(response, platform)
            yield response


async def request_json(
    method: str, url: str, *, platform: str, client: httpx.AsyncClient | None = None, **kwargs: Any
) -> dict[str, Any]:
    """A JSON request, its body read with a cap; its failures become UpstreamError."""
    with transport_errors(platform):
        response = await capped_request(method, url, platform=platform, client=client, **kwargs)
    if response.status_code >= 400:
        raise http_error(response, platform)
    data = parse_json_object(response.text)
    if data is None:
        raise UpstreamError(
            _("%(platform)s answered with something other than a JSON object.") % {"platform": platform}
        )
    return data

"""The websocket origin check: scheme, host and port of `Origin` against the site's own origins.

A page may open a websocket only from the site itself. The site's origin for a
connection is worked out as Django's CSRF check does for a form POST: the
scheme the connection arrived with (`wss`, or `X-Forwarded-Proto` as
`SECURE_PROXY_SSL_HEADER` names it behind a proxy) and the `Host` header,
whose host must be in `ALLOWED_HOSTS`; `CSRF_TRUSTED_ORIGINS` are accepted as
well. So `http://127.0.0.1:8000` is the origin of a local run on that port,
and `https://chat.example.com` that of a site behind a TLS proxy; the same
host on another port or scheme, a foreign host, an empty or `null` origin
are refused.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain


def header(scope: MutableMapping[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def is_secure(scope: MutableMapping[str, Any]) -> bool:
    """The connection reached the site over TLS, directly or through the trusted proxy."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        return header(scope, name).split(",")[0].strip() == secure_value
    return False


def trusted(origin: str) -> bool:
    """`origin` is in CSRF_TRUSTED_ORIGINS (which may name subdomains as `https://*.example.com`)."""
    parts = urlsplit(origin)
    for allowed in settings.CSRF_TRUSTED_ORIGINS:
        if allowed == origin:
            return True
        allowed_parts = urlsplit(allowed)
        if (
            "*" in allowed_parts.netloc
            and allowed_parts.scheme == parts.scheme
            and is_same_domain(parts.netloc, allowed_parts.netloc.replace("*", "", 1))
        ):
            return True
    return False


DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_allowed(origin: str, host: str, secure: bool) -> bool:
    """`origin` is the site's own (the scheme, host and port the browser reached it on) or a trusted one."""
    if not origin or origin == "null":
        return False
    if trusted(origin):
        return True
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    scheme = "https" if secure else "http"
    try:
        parts = urlsplit(origin)
        origin_port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return False
    origin_domain, _ = split_domain_port(parts.netloc)
    return (
        parts.scheme == scheme
        and origin_domain == domain
        and origin_port == (int(port) if port else DEFAULT_PORTS[scheme])
        and parts.path in ("", "/")
    )


class StrictOriginValidator:
    """ASGI middleware: refuse a websocket whose `Origin` is not one of the site's own (see module doc)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and not origin_allowed(
            header(scope, b"origin"), header(scope, b"host"), is_secure(scope)
        ):
            await WebsocketDenier()(scope, receive, send)
            return
        await self.app(scope, receive, send)

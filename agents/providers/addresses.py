"""Where the site may send requests: the address guard of every upstream connection.

A credential's URLs are typed by an admin and an upload URL is chosen by the
platform, so either could point the site (and the key it sends) at an
internal service. Addresses are checked when the connection is made, after
DNS resolution, and the socket goes to the address that was checked, so a
name that resolves differently the second time (DNS rebinding) cannot pass.

Settings (read at each connection, not at import):
`UPSTREAM_ALLOWED_HOSTS` names internal hosts (names or IP addresses) that
are allowed anyway; `UPSTREAM_ALLOW_LOOPBACK` allows 127.0.0.0/8 and ::1
(the demo and the tests, whose fake platforms run on 127.0.0.1).
"""

import ipaddress
import socket
import typing
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx
from django.conf import settings
from django.utils.translation import gettext as _

from agents.providers.base import UpstreamError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services hand out cloud credentials. All are also internal
# ranges; they are named so that the message says what was at stake.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def allowed_hosts() -> frozenset[str]:
    return frozenset(host.strip().lower().strip("[]") for host in settings.UPSTREAM_ALLOWED_HOSTS)


def loopback_allowed() -> bool:
    return bool(settings.UPSTREAM_ALLOW_LOOPBACK)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (6to4, Teredo, NAT64): each is reached too."""
    found = [ip.sixtofour, *(ip.teredo or ())]
    if ip in NAT64_PREFIX:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in found if address is not None]


def address_refusal(ip: IPAddress) -> str | None:
    """What kind of internal address `ip` is ("a loopback address", ...); None when the site may connect."""
    if str(ip) in allowed_hosts():
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return address_refusal(ip.ipv4_mapped)
        for inner in embedded_ipv4(ip):
            refusal = address_refusal(inner)
            if refusal:
                return refusal
    if ip in METADATA_ADDRESSES:
        return _("a cloud metadata address")
    if ip.is_loopback:
        return None if loopback_allowed() else _("a loopback address")
    if ip.is_unspecified:
        return _("an unspecified address")
    if ip.is_link_local:
        return _("a link-local address")
    if ip.is_multicast:
        return _("a multicast address")
    if ip.is_reserved:
        return _("a reserved address")
    if ip.is_private:
        return _("a private address")
    if not ip.is_global:
        return _("a reserved address")
    return None


def host_is_allowed(host: str) -> bool:
    return host.lower().strip("[]") in allowed_hosts()


def is_loopback_host(host: str) -> bool:
    """`host` is a loopback IP literal or a loopback name (without asking DNS)."""
    host = host.lower().strip("[]").rstrip(".")
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_allowed(host: str) -> bool:
    """http:// (no TLS) only to a loopback host when loopback is allowed, or to a named internal host."""
    return host_is_allowed(host) or (loopback_allowed() and is_loopback_host(host))


def url_problem(url: str) -> str | None:
    """Why the site will not send requests to `url`, as far as it can tell without DNS; None when it may.

    The connect-time guard is the real check; this one gives a clear form error early.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return _("Enter an https:// address.")
    if parts.scheme == "http" and not plain_http_allowed(host):
        return _("Enter an https:// address: the key would travel unencrypted over plain http.")
    if host_is_allowed(host):
        return None
    if is_loopback_host(host) and not loopback_allowed():
        return _("%(host)s is a loopback address; the site does not send requests there.") % {"host": host}
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    refusal = address_refusal(ip)
    if refusal:
        return _(
            "%(host)s is %(kind)s; the site does not send requests there. "
            "An internal platform host can be allowed with UPSTREAM_ALLOWED_HOSTS."
        ) % {"host": host, "kind": refusal}
    return None


class AddressRefused(UpstreamError):
    """A connection was refused because its host is, or resolves to, an internal address."""


def refused(host: str, message: str) -> AddressRefused:
    return AddressRefused(
        _(
            "The site does not connect to %(host)s: %(reason)s. "
            "An admin can allow an internal platform host with UPSTREAM_ALLOWED_HOSTS."
        )
        % {"host": host, "reason": message}
    )


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses it if any address is internal, then connects to a checked address.

    httpcore starts TLS on the stream with the URL's host name, so
    certificate checks and SNI still use the name, not the address.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None):
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolve(host, port, timeout)
        if not host_is_allowed(host):
            for address in addresses:
                refusal = address_refusal(address)
                if refusal:
                    shown = host if str(address) == host else f"{host} ({address})"
                    raise refused(shown, _("it is %(kind)s") % {"kind": refusal})
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def resolve(self, host: str, port: int, within: float | None) -> list[IPAddress]:
        try:
            with anyio.fail_after(within):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"Resolving {host} took too long.") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} could not be resolved.") from exc
        # The scope of a link-local IPv6 address ("fe80::1%eth0") is not part of the address.
        found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not found:
            raise httpcore.ConnectError(f"{host} could not be resolved.")
        return list(dict.fromkeys(found))

    async def connect_unix_socket(self, path: str, timeout=None, socket_options=None):  # noqa: ASYNC109
        raise httpcore.ConnectError("Upstream connections go over TCP only.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with the connection pool built on `GuardedBackend`.

    httpx 0.28 takes no network backend (encode/httpx#3749 would add one),
    so the pool is replaced with one built through httpcore's public API.
    Plain http is refused here, before any connection, except to hosts where
    it is allowed (`plain_http_allowed`).
    """

    def __init__(self, limits: httpx.Limits):
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        scheme, host = request.url.scheme, request.url.host
        if scheme not in ("http", "https"):
            raise refused(
                host or _("an address without a host"),
                _("%(scheme)s:// is not a web address") % {"scheme": scheme},
            )
        if scheme == "http" and not plain_http_allowed(host):
            raise refused(host, _("plain http is only for the site's own machine; use https"))
        return await super().handle_async_request(request)

"""The websocket origin check: only the site's own scheme, host and port may open a socket."""

import pytest

from chatsite.origins import origin_allowed


@pytest.fixture(autouse=True)
def site_hosts(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "chat.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com", "https://*.partner.example"]


@pytest.mark.parametrize(
    ("origin", "host", "secure"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", False),  # a local run
        ("http://127.0.0.1:51234", "127.0.0.1:51234", False),  # the browser tests' random port
        ("https://chat.example.com", "chat.example.com", True),  # behind the TLS proxy
        ("https://chat.example.com", "chat.example.com:443", True),
        ("https://chat.example.com", "127.0.0.1:8001", False),  # trusted, whatever the proxy sends
        ("https://eu.partner.example", "127.0.0.1:8001", False),
    ],
)
def test_the_sites_own_origins_are_accepted(origin, host, secure):
    assert origin_allowed(origin, host, secure)


@pytest.mark.parametrize(
    ("origin", "host", "secure"),
    [
        ("http://evil.example", "127.0.0.1:8000", False),
        ("", "127.0.0.1:8000", False),
        ("null", "127.0.0.1:8000", False),
        ("https://127.0.0.1:8443", "127.0.0.1:8000", False),  # right host, other scheme and port
        ("http://127.0.0.1:9999", "127.0.0.1:8000", False),  # right host, other port
        ("https://127.0.0.1:8000", "127.0.0.1:8000", False),  # right host and port, other scheme
        ("http://127.0.0.1", "127.0.0.1:8000", False),
        ("http://chat.example.com", "chat.example.com", True),  # a plain-HTTP page of a TLS site
        ("http://evil.example:8000", "evil.example:8000", False),  # a host the site does not serve
        ("https://chat.example.com.evil.example", "chat.example.com", True),
        ("http://127.0.0.1:8000/path", "127.0.0.1:8000", False),
        ("http://127.0.0.1:notaport", "127.0.0.1:8000", False),
    ],
)
def test_foreign_origins_and_other_ports_or_schemes_are_refused(origin, host, secure):
    assert not origin_allowed(origin, host, secure)

"""ASGI entry point: Django views over HTTP, the chat relay over websockets.

With CHATSITE_DEMO on, the fake platforms answer under /fake/<platform>/ in
the same process, so the demo needs one server.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_http_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from agents.providers.http import close_upstream_clients  # noqa: E402
from chatsite import shutdown  # noqa: E402
from chatsite.origins import StrictOriginValidator  # noqa: E402
from chatsite.request_limits import BodyLimitMiddleware  # noqa: E402
from chatsite.socket_sessions import socket_auth_stack  # noqa: E402
from conversations.relay import interrupt_all, start_sweeping  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402

http_app = BodyLimitMiddleware(django_http_app)
if settings.CHATSITE_DEMO:
    from agents.fakes import mount_fakes

    http_app = mount_fakes(http_app)


def close_clients_on_reactor_shutdown() -> None:
    """Save running replies and close upstream connections when Daphne stops.

    Daphne sends no ASGI lifespan events; its Twisted reactor's shutdown is the hook.
    """
    import sys

    if "twisted.internet.reactor" not in sys.modules:
        return
    import asyncio

    from twisted.internet import defer, reactor

    async def shut_down() -> None:
        await interrupt_all()
        await close_upstream_clients()

    def close() -> defer.Deferred:
        return defer.Deferred.fromFuture(asyncio.ensure_future(shut_down()))

    reactor.addSystemEventTrigger("before", "shutdown", close)


close_clients_on_reactor_shutdown()


def sweep_once_the_reactor_runs() -> None:
    """Start the sweep for dead processes' replies when Daphne starts, not at the first socket; and
    answer SIGTERM gently (chatsite/shutdown.py) in place of Twisted's handler, installed by then.

    `callLater` runs inside the reactor's asyncio loop once it runs; a startup trigger would run before.
    """
    import sys

    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    reactor.callLater(0, start_sweeping)
    reactor.callLater(0, shutdown.install, reactor)


sweep_once_the_reactor_runs()


def limit_daphne_buffers() -> None:
    """Cap what a Daphne server in this process buffers (chatsite/daphne_limits.py)."""
    import sys

    if "daphne.server" in sys.modules:
        from chatsite import daphne_limits

        daphne_limits.install()


limit_daphne_buffers()

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": StrictOriginValidator(socket_auth_stack(URLRouter(websocket_urlpatterns))),
    }
)

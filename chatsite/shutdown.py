"""A Daphne process stopping on SIGTERM (systemd, a deploy): running replies finish, nothing new starts.

Twisted's own SIGTERM handler stops the reactor at once, which interrupts
every running reply. Instead the process first stops accepting connections
(the proxy sends new ones to the other processes), closes its websockets
with 4503, the site's "restarting" (Daphne allows no 1012): the pages
reconnect through the proxy and watch their replies from another process.
It refuses any turn still asked of it. Its running replies go on for up to
REPLY_SHUTDOWN_GRACE_SECONDS; then the reactor stops, and those still
running are saved `interrupted` (`relay.interrupt_all`, run before Daphne
shuts down). A second SIGTERM stops at once.
"""

import asyncio
import logging
import signal
import time
from typing import Any

from django.conf import settings

from conversations import consumers, relay

logger = logging.getLogger(__name__)

RESTARTING_CLOSE_CODE = 4503

# How often the wait for running replies looks again.
POLL_SECONDS = 0.1


def install(reactor: Any) -> None:
    """Answer SIGTERM with `drain_then_stop` (call once the reactor runs: it installs its handler first)."""
    draining: list[asyncio.Task] = []

    def on_sigterm(signum: int, frame: Any) -> None:
        if draining:
            reactor.callFromThread(reactor.stop)
        else:
            reactor.callFromThread(lambda: draining.append(asyncio.ensure_future(drain_then_stop(reactor))))

    signal.signal(signal.SIGTERM, on_sigterm)


async def drain_then_stop(reactor: Any) -> None:
    try:
        stop_listening(reactor)
        relay.stop_taking_turns()
        closed = await consumers.close_every_socket(RESTARTING_CLOSE_CODE)
        logger.info("Stopping: %d websockets closed, %d replies running", closed, len(relay.running()))
        left = await wait_for_replies(settings.REPLY_SHUTDOWN_GRACE_SECONDS)
        if left:
            logger.warning("Stopping: %d replies still running after the grace period are interrupted", left)
    finally:
        reactor.stop()


def stop_listening(reactor: Any) -> None:
    """Close Daphne's listening sockets: new connections are refused (and the proxy tries another process)."""
    from twisted.internet import tcp

    for reader in reactor.getReaders():
        if isinstance(reader, tcp.Port):
            reader.stopListening()


async def wait_for_replies(seconds: float) -> int:
    """Wait until no reply runs in this process, for at most `seconds`; how many still run."""
    deadline = time.monotonic() + seconds
    while relay.running() and time.monotonic() < deadline:  # noqa: ASYNC110 (replies end in many places)
        await asyncio.sleep(POLL_SECONDS)
    return len(relay.running())

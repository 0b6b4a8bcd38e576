"""Sending a turn again when the platform refused it before answering."""

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import aclosing

from django.conf import settings

from agents.providers.base import Provider, Turn, UpstreamError
from agents.providers.events import ReplyEvent, Retrying, RunStarted

MAX_RETRY_WAIT = 30.0


async def stream_with_retries(provider: Provider, turn: Turn) -> AsyncIterator[ReplyEvent]:
    """`provider.stream_reply(turn)`, retried on a retryable error before the platform answers.

    At most UPSTREAM_RETRIES more attempts, waiting with exponential backoff
    and jitter, or as long as the platform asked (`Retry-After`) when that is
    under MAX_RETRY_WAIT. Once any event but RunStarted has arrived the turn is
    never sent again, so a message is never answered twice. Each wait is
    announced with a `Retrying` event.
    """
    attempt = 0
    while True:
        answered = False
        try:
            async with aclosing(provider.stream_reply(turn)) as events:
                async for event in events:
                    answered = answered or not isinstance(event, RunStarted)
                    yield event
            return
        except UpstreamError as exc:
            if answered or not exc.retryable or attempt >= settings.UPSTREAM_RETRIES:
                raise
            delay = retry_delay(attempt, exc.retry_after)
            if delay is None:
                raise
            attempt += 1
            yield Retrying(attempt=attempt, delay=round(delay, 2), reason=exc.message)
            await asyncio.sleep(delay)


def retry_delay(attempt: int, asked: float | None) -> float | None:
    """Seconds to wait before retry number `attempt + 1`; None when the platform asks for too long."""
    if asked is not None:
        return asked if asked <= MAX_RETRY_WAIT else None
    base = settings.UPSTREAM_RETRY_BASE_DELAY * 2**attempt
    return min(MAX_RETRY_WAIT, base) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not secrecy

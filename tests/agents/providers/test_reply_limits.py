"""A reply's silences and duration end it with the site's words; a stop while it waits stays a stop."""

import asyncio

import pytest

from agents.providers.base import UpstreamError
from agents.providers.events import TextDelta
from agents.providers.limits import within_limits


async def words(count: int, *, then_wait: float = 0.0, every: float = 0.0):
    for index in range(count):
        if every:
            await asyncio.sleep(every)
        yield TextDelta(text=f"word{index} ")
    await asyncio.sleep(then_wait)


async def read(events) -> tuple[list[str], UpstreamError | None]:
    texts = []
    try:
        async for event in events:
            texts.append(event.text)
    except UpstreamError as exc:
        return texts, exc
    return texts, None


async def test_a_platform_silent_past_the_idle_limit_ends_the_reply_after_every_event_it_sent():
    limited = within_limits(words(50, then_wait=30), max_chars=10_000, idle_seconds=0.2, total_seconds=60)

    texts, error = await asyncio.wait_for(read(limited), timeout=5)

    assert len(texts) == 50
    assert error is not None and "sent nothing for 0.2 seconds" in error.message


async def test_a_reply_running_past_its_duration_is_cut_off_although_events_keep_coming():
    limited = within_limits(words(1000, every=0.02), max_chars=100_000, idle_seconds=10, total_seconds=0.3)

    texts, error = await asyncio.wait_for(read(limited), timeout=5)

    assert 0 < len(texts) < 1000
    assert error is not None and "took longer than 0.3 seconds" in error.message


async def test_a_stop_while_the_reply_waits_for_the_platform_is_a_stop_not_a_timeout():
    limited = within_limits(words(3, then_wait=30), max_chars=10_000, idle_seconds=0.5, total_seconds=60)
    reader = asyncio.create_task(read(limited))
    await asyncio.sleep(0.1)

    reader.cancel()

    with pytest.raises(asyncio.CancelledError):
        await reader


async def test_the_idle_limit_counts_from_each_wait_not_from_the_first():
    # 40 events 0.05 s apart: 2 s in all, every silence well under the 0.3 s limit.
    limited = within_limits(words(40, every=0.05), max_chars=10_000, idle_seconds=0.3, total_seconds=60)

    texts, error = await asyncio.wait_for(read(limited), timeout=10)

    assert error is None
    assert len(texts) == 40

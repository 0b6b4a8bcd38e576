"""What one reply may make the site hold: its text, its duration and its silences."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

from django.utils.formats import number_format
from django.utils.translation import gettext as _

from agents.providers.base import UpstreamError
from agents.providers.events import ReplyEvent, TextDelta, TextReplace


async def within_limits(
    events: AsyncIterator[ReplyEvent],
    *,
    max_chars: int,
    idle_seconds: float,
    total_seconds: float,
    chars_so_far: int = 0,
) -> AsyncIterator[ReplyEvent]:
    """`events`, ended with an UpstreamError once the reply breaks a limit; `events` is closed then.

    The text is cut at `max_chars` (counting `chars_so_far`, text the reply
    already had): the last event passed on carries the text up to the cap.
    Only events count as activity for `idle_seconds`: a platform's heartbeats
    (SSE comments, pings an adapter drops) never reach here, so they cannot
    keep a reply open.
    """
    watch = SilenceWatch(idle_seconds=idle_seconds, total_seconds=total_seconds)
    length = chars_so_far
    async with aclosing(events):
        try:
            while True:
                try:
                    event = await watch.next(events)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    if watch.past_deadline():
                        raise UpstreamError(
                            _("The reply took longer than %(duration)s; it was cut off there.")
                            % {"duration": duration(total_seconds)}
                        ) from None
                    raise UpstreamError(
                        _("The platform sent nothing for %(duration)s; the reply was cut off there.")
                        % {"duration": duration(idle_seconds)}
                    ) from None
                if isinstance(event, TextDelta):
                    room = max_chars - length
                    length += len(event.text)
                    if length > max_chars:
                        if room > 0:
                            yield TextDelta(text=event.text[:room])
                        raise too_long(max_chars)
                elif isinstance(event, TextReplace):
                    length = len(event.text)
                    if length > max_chars:
                        yield TextReplace(text=event.text[:max_chars])
                        raise too_long(max_chars)
                yield event
        finally:
            watch.stop()


class SilenceWatch:
    """Waits for a stream's next event, with a TimeoutError once it has been silent too long or ran too long.

    As `asyncio.timeout` around each wait would, but with one timer that is moved
    only when it fires (to `idle_seconds` after the current wait began), not one
    timer made and cancelled per event: that cost more than the rest of the
    event's way through this module. As before, silence is counted from the
    start of each wait: the time the caller spends on an event is not silence.
    """

    def __init__(self, *, idle_seconds: float, total_seconds: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.idle_seconds = idle_seconds
        self.wait_began = self.loop.time()
        self.deadline = self.wait_began + total_seconds
        self.timer: asyncio.TimerHandle | None = None
        # The task that waits: every wait of one watch is made by the task that made the first.
        self.task: asyncio.Task | None = None
        self.waiting = False
        self.cancelling = 0
        self.expired = False

    async def next(self, events: AsyncIterator[ReplyEvent]) -> ReplyEvent:
        """The next event of `events`; TimeoutError once a limit passed while waiting for it."""
        task = self.task
        if task is None:
            task = self.task = asyncio.current_task()
            assert task is not None
        self.cancelling = task.cancelling()
        self.wait_began = self.loop.time()
        self.waiting = True
        if self.timer is None:
            self.check()
        try:
            event = await anext(events)
        except asyncio.CancelledError:
            if self.expired and task.uncancel() <= self.cancelling:
                raise TimeoutError from None
            raise
        finally:
            self.waiting = False
        return event

    def check(self) -> None:
        """Cut the wait short if a limit passed, else look again when the next one would."""
        self.timer = None
        if not self.waiting or self.task is None:
            return  # the caller is busy with an event; its next wait looks again
        now = self.loop.time()
        limit = min(self.wait_began + self.idle_seconds, self.deadline)
        if now < limit:
            self.timer = self.loop.call_at(limit, self.check)
            return
        self.expired = True
        self.task.cancel()

    def past_deadline(self) -> bool:
        return self.loop.time() >= self.deadline

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def too_long(max_chars: int) -> UpstreamError:
    return UpstreamError(
        _("The reply was too long (over %(limit)s characters); it was cut off there.")
        % {"limit": number_format(max_chars, force_grouping=True)}
    )


def duration(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return _("%(count)s minutes") % {"count": f"{seconds / 60:g}"}
    return _("%(count)s seconds") % {"count": f"{seconds:g}"}

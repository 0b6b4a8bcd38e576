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
    loop = asyncio.get_running_loop()
    deadline = loop.time() + total_seconds
    length = chars_so_far
    async with aclosing(events):
        while True:
            remaining = deadline - loop.time()
            try:
                async with asyncio.timeout(min(idle_seconds, remaining)):
                    event = await anext(events)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if loop.time() >= deadline:
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


def too_long(max_chars: int) -> UpstreamError:
    return UpstreamError(
        _("The reply was too long (over %(limit)s characters); it was cut off there.")
        % {"limit": number_format(max_chars, force_grouping=True)}
    )


def duration(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return _("%(count)s minutes") % {"count": f"{seconds / 60:g}"}
    return _("%(count)s seconds") % {"count": f"{seconds:g}"}

"""`{{ agent|avatar_hue }}` and `{{ agent|avatar_initial }}`: an agent's avatar, the same on every page."""

import zlib

from django import template

register = template.Library()

AVATAR_HUES = 6


@register.filter
def avatar_hue(agent) -> int:
    return zlib.crc32(agent.slug.encode()) % AVATAR_HUES


@register.filter
def avatar_initial(agent) -> str:
    return (agent.name[:1] or "?").upper()

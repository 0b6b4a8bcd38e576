"""`{% icon "name" %}`: the SVG of `partials/icon.html`, rendered once per name.

The message templates repeat a handful of icons for every message of a page;
including the partial each time walks its whole `if` chain again.
"""

from functools import lru_cache

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag
def icon(name: str) -> SafeString:
    return _icon_svg(name)


@lru_cache(maxsize=64)
def _icon_svg(name: str) -> SafeString:
    return mark_safe(render_to_string("partials/icon.html", {"name": name}))  # noqa: S308 (our own template)

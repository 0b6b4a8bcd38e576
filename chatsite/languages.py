"""The language of a websocket: the same choice LocaleMiddleware makes for a page."""

from typing import Any

from django.http import HttpRequest
from django.utils import translation


def language_of_scope(scope: dict[str, Any]) -> str:
    """The language chosen with set_language (its cookie), else the browser's Accept-Language."""
    request = HttpRequest()
    request.COOKIES = dict(scope.get("cookies") or {})
    for name, value in scope.get("headers") or []:
        if name == b"accept-language":
            request.META["HTTP_ACCEPT_LANGUAGE"] = value.decode("latin-1")
    return translation.get_language_from_request(request)

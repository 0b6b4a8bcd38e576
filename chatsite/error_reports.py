"""What Django's error pages and error e-mails may show of a failed request.

Platform keys travel in request headers, so any frame that holds a request
may hold a key, including frames of the HTTP client library itself, which no
`sensitive_variables` can mark.
"""

import re
from types import FrameType
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

HTTP_CLIENT_PACKAGES = frozenset({"httpx", "httpcore", "h11", "h2", "httpx_sse", "anyio"})
SECRET_HEADER = re.compile(r"authorization|x-api-key|api[-_]?key", re.IGNORECASE)


class KeyHidingReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, on with DEBUG too, that also hides what looks like it carries a key.

    Hidden: every variable of the HTTP client's frames; in other frames, a
    variable named like a secret (Django's `hidden_settings`) or `headers`, or
    whose value mentions an authorization or API-key header.
    """

    def is_active(self, request: HttpRequest | None) -> bool:
        # Django's own filter steps aside when DEBUG is on; the debug page is where keys leaked.
        return True

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: FrameType) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        package = str(tb_frame.f_globals.get("__name__", "")).split(".")[0]
        if package in HTTP_CLIENT_PACKAGES:
            return [(name, self.cleansed_substitute) for name, _ in variables]
        return [
            (name, self.cleansed_substitute if self.may_hold_a_key(name, value) else value)
            for name, value in variables
        ]

    def may_hold_a_key(self, name: str, value: Any) -> bool:
        if name == "headers" or self.hidden_settings.search(name):
            return True
        if value == self.cleansed_substitute:
            return False
        try:
            shown = repr(value)
        except Exception:
            return True
        return bool(SECRET_HEADER.search(shown))

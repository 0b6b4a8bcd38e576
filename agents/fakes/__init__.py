"""Local fake platforms, served in-process by the demo and over real HTTP by the tests.

`FAKES` holds one shared instance per platform of the registry
(agents.platforms), which names each platform's fake. `mount_fakes` puts them under
`/fake/<platform>/` in front of another ASGI application.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from agents.fakes.agentweave import AgentWeaveFake
from agents.fakes.sketricgen import SketricGenFake
from agents.fakes.slug_chat import SlugChatFake
from agents.fakes.workflow_chat import WorkflowChatFake
from agents.platforms import make_fakes

ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]
]

FAKES: dict[str, ASGIApp] = make_fakes()


def mount_fakes(app: ASGIApp, prefix: str = "/fake") -> ASGIApp:
    """An ASGI app sending HTTP requests under `{prefix}/<platform>/` to that fake, the rest to `app`."""

    async def route(scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            for name, fake in FAKES.items():
                mount = f"{prefix}/{name}"
                if path.startswith(mount + "/"):
                    child = {
                        **scope,
                        "path": path[len(mount) :],
                        "root_path": scope.get("root_path", "") + mount,
                    }
                    raw_path = scope.get("raw_path")
                    if raw_path and raw_path.startswith(mount.encode() + b"/"):
                        child["raw_path"] = raw_path[len(mount) :]
                    await fake(child, receive, send)
                    return
        await app(scope, receive, send)

    return route


__all__ = ["FAKES", "AgentWeaveFake", "SketricGenFake", "SlugChatFake", "WorkflowChatFake", "mount_fakes"]

"""Server time and HTML size of a long conversation's pages against a short one's.

    .venv/bin/python bench/history.py                     # prints the table
    .venv/bin/python bench/history.py --views 30 --readme bench/README.md --label after

Seeds a 10-message and a 1,000-message conversation (replies with paragraphs,
a list and a highlighted code block) in a temporary SQLite database, then
requests the owner's chat page and the public share page of each through
Django's whole request stack (middleware, sessions, templates; no network) and
reports the first view, the median wall and CPU time of `--views` further
views (the two sizes interleaved), the bytes of HTML, and the 1,000/10 ratios
of the same run. Runs against any checkout: run
it from an older one to measure "before".
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10, 1000)
WARM_UP = 2  # a conversation viewed first, so no measured view pays for the process's first request


def reply_text(number: int) -> str:
    return (
        f"Reply {number}: here is what I found about **tides** and _currents_ in the bay.\n\n"
        + "The moon pulls the water, the sun helps a little, and the shape of the coast decides the rest. "
        * 3
        + "\n\n- spring tides at full and new moon\n- neap tides in between\n- two highs a day, mostly\n\n"
        + "```python\ndef high_tides(day: int) -> list[float]:\n"
        + "    return [12.4 * n + 0.8 * day for n in range(2)]\n```\n"
    )


def set_up_django(var_dir: str) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "CHATSITE_VAR_DIR": var_dir,
            "STATIC_ROOT": str(Path(var_dir) / "static"),
            "DEBUG": "0",
            "CHATSITE_HTTPS": "0",
            "SECRET_KEY": "bench-" + "x" * 60,
            "ALLOWED_HOSTS": "testserver,127.0.0.1",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)


def seed() -> tuple[object, dict[int, dict[str, str]]]:
    """The owner, and per size the addresses of the chat page and the share page."""
    from django.contrib.auth import get_user_model

    from agents.models import Agent, Credential, Platform
    from conversations import services
    from conversations.models import Conversation, Message

    owner = get_user_model().objects.create_user(username="bench")
    credential = Credential(name="bench", platform=Platform.SKETRICGEN, base_url="https://platform.invalid")
    credential.set_api_key("bench-key")
    credential.save()
    agent = Agent.objects.create(name="Tides", slug="tides", credential=credential, upstream_agent_id="a")
    pages = {}
    for size in (WARM_UP, *SIZES):
        conversation = Conversation.objects.create(owner=owner, agent=agent, title=f"{size} messages")
        Message.objects.bulk_create(
            Message(
                conversation=conversation,
                role=Message.Role.USER if n % 2 == 0 else Message.Role.ASSISTANT,
                content=f"Question {n}: when is high tide?" if n % 2 == 0 else reply_text(n),
            )
            for n in range(size)
        )
        link = services.share_conversation(owner, conversation, access="public", live=False)
        pages[size] = {"chat": conversation.get_absolute_url(), "share": link.get_absolute_url()}
    return owner, pages


def measure(client, urls: dict[int, str], views: int) -> dict[int, dict[str, float]]:
    """First view of each page, then `views` more of each, interleaved so machine noise hits both alike."""

    def view(url: str) -> tuple[float, float, int]:
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert response.status_code == 200, (url, response.status_code)
        return wall * 1000, cpu * 1000, len(response.content)

    first = {size: view(url) for size, url in urls.items()}
    later: dict[int, list[tuple[float, float, int]]] = {size: [] for size in urls}
    for _ in range(views):
        for size, url in urls.items():
            later[size].append(view(url))
    return {
        size: {
            "first_ms": first[size][0],
            "median_ms": statistics.median(v[0] for v in later[size]),
            "median_cpu_ms": statistics.median(v[1] for v in later[size]),
            "bytes": first[size][2],
        }
        for size in urls
    }


def table(results: dict[str, dict[int, dict[str, float]]], views: int) -> str:
    small, large = SIZES
    lines = [
        f"| page | messages | first view | median of {views} views | its CPU time | HTML |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for page, by_size in results.items():
        for size in SIZES:
            r = by_size[size]
            lines.append(
                f"| {page} | {size:,} | {r['first_ms']:.1f} ms | {r['median_ms']:.1f} ms "
                f"| {r['median_cpu_ms']:.1f} ms | {r['bytes'] / 1000:,.0f} KB |"
            )
        a, b = by_size[small], by_size[large]
        lines.append(
            f"| {page} | ratio {large:,}/{small} | {b['first_ms'] / a['first_ms']:.1f}x "
            f"| {b['median_ms'] / a['median_ms']:.1f}x | {b['median_cpu_ms'] / a['median_cpu_ms']:.1f}x "
            f"| {b['bytes'] / a['bytes']:.1f}x |"
        )
    return "\n".join(lines)


def write_readme(path: Path, label: str, text: str) -> None:
    start, end = f"<!-- history:{label}:start -->", f"<!-- history:{label}:end -->"
    readme = path.read_text()
    block = f"{start}\n{text}\n{end}"
    if start in readme:
        readme = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, readme, flags=re.S)
    else:
        readme = readme.rstrip("\n") + f"\n\n{block}\n"
    path.write_text(readme)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=20, help="views measured after the first (median)")
    parser.add_argument("--readme", type=Path, help="write the table into this file under --label")
    parser.add_argument("--label", default="after")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chatsite-history-") as var_dir:
        set_up_django(var_dir)
        from django.test import Client

        owner, pages = seed()
        owner_client, visitor = Client(), Client()
        owner_client.force_login(owner)
        for client, page in ((owner_client, "chat"), (visitor, "share")):
            client.get(pages[WARM_UP][page])
        results = {
            "chat": measure(owner_client, {size: pages[size]["chat"] for size in SIZES}, args.views),
            "share": measure(visitor, {size: pages[size]["share"] for size in SIZES}, args.views),
        }
    import platform

    import django

    text = (
        f"Python {platform.python_version()}, Django {django.get_version()}, SQLite, "
        f"{os.cpu_count()} cores shared; in-process requests (no network).\n\n" + table(results, args.views)
    )
    print(text)
    if args.readme:
        write_readme(args.readme, args.label, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

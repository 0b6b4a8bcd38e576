#!/usr/bin/env python3
"""Benchmark of a turn start's database part, behind a busy event loop, before and after a change.

    .venv/bin/python bench/turn_start.py --before REF             this checkout against commit REF
    .venv/bin/python bench/turn_start.py --before REF --turns 200 --rounds 5

A send frame's database work is what the chat socket does before the user's
message is saved: the frame's sign-in and access check, then `save_turn`, each
run through `database_sync_to_async` the way the consumer runs them at that
commit. While the turns start, one after another, the event loop is kept busy
the way streaming replies keep it busy (a task that computes for 1 ms, then
yields, over and over), so each turn competes with the loop for the GIL.

Each tree is measured in its own process (its own SQLite database in a
temporary directory, the site's settings, `chatsite.asgi` imported as Daphne
imports it); the rounds alternate between the trees so that the machine's
load falls on both alike. Reported per turn start: the wall time (p50, p99),
the database thread's CPU time, and the queries. Timings are the machine's of
the moment: compare the two columns, not runs.
"""

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUSY_SLICE_SECONDS = 0.001


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# ----------------------------------------------------------------------------------------------
# One tree, in its own process
# ----------------------------------------------------------------------------------------------


def set_up(turns: int) -> tuple[Any, list[str]]:
    """The site's settings on a fresh database: a signed-in user's socket, and `turns` conversations."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    import chatsite.asgi  # noqa: F401 - as Daphne imports it (process-wide settings such as the GIL's)
    from agents.models import Agent, Credential, Platform
    from conversations.consumers import ConversationConsumer
    from conversations.models import Conversation

    user = get_user_model().objects.create_user(username="bench", password=secrets.token_urlsafe(12))
    credential = Credential(platform=Platform.SKETRICGEN, name="Bench", base_url="http://127.0.0.1:9")
    credential.set_api_key("demo-key")
    credential.save()
    agent = Agent.objects.create(
        name="Bench", slug="bench", credential=credential, upstream_agent_id="agent-bench"
    )
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    socket = ConversationConsumer()
    socket.user_id = user.pk
    socket.scope = {"session": SessionStore(session_key=session.session_key)}
    conversations = Conversation.objects.bulk_create(
        [Conversation(owner=user, agent=agent) for _ in range(turns)]
    )
    return socket, [c.pk for c in conversations]


async def start_turn(socket: Any, conversation_id: str, counted: dict[str, float]) -> None:
    """The database part of a send frame, as this tree's consumer does it."""
    from channels.db import database_sync_to_async
    from django.db import connection

    from conversations.relay.turns import save_turn

    socket.conversation_id = conversation_id
    arguments: dict[str, Any] = {"user_id": socket.user_id, "text": "Hello", "relay_channel": "bench!1"}

    def counting(work: Any) -> Any:
        def counted_work() -> Any:
            connection.force_debug_cursor = True  # count queries with DEBUG off
            started, queries = time.thread_time(), len(connection.queries)
            try:
                return work()
            finally:
                counted["db_cpu"] += time.thread_time() - started
                counted["queries"] += len(connection.queries) - queries

        return counted_work

    if hasattr(socket, "check_frame"):  # the check runs in the turn's own call
        arguments["check"] = socket.check_frame
        await database_sync_to_async(counting(lambda: save_turn.func(conversation_id, **arguments)))()
        return
    refusal = await database_sync_to_async(counting(socket.refusal))()
    assert refusal is None, refusal
    await database_sync_to_async(counting(lambda: save_turn.func(conversation_id, **arguments)))()


async def keep_busy(stop: asyncio.Event) -> None:
    """The event loop's work while replies stream: compute a slice, let others in, again."""
    while not stop.is_set():
        until = time.perf_counter() + BUSY_SLICE_SECONDS
        while time.perf_counter() < until:
            pass
        await asyncio.sleep(0)


async def measure_tree(socket: Any, conversation_ids: list[str], turns: int) -> dict[str, Any]:
    counted = {"db_cpu": 0.0, "queries": 0.0}
    await start_turn(socket, conversation_ids.pop(), counted)  # warm up
    counted.update(db_cpu=0.0, queries=0.0)
    stop = asyncio.Event()
    busy = asyncio.create_task(keep_busy(stop))
    walls = []
    for conversation_id in conversation_ids:
        started = time.perf_counter()
        await start_turn(socket, conversation_id, counted)
        walls.append(time.perf_counter() - started)
    stop.set()
    await busy
    return {"walls": walls, "db_cpu": counted["db_cpu"] / turns, "queries": counted["queries"] / turns}


def measure_main(tree: Path, turns: int) -> int:
    sys.path.insert(0, str(tree))
    os.chdir(tree)
    socket, conversation_ids = set_up(turns + 1)
    print(json.dumps(asyncio.run(measure_tree(socket, conversation_ids, turns))), flush=True)
    return 0


# ----------------------------------------------------------------------------------------------
# The orchestrator
# ----------------------------------------------------------------------------------------------


def run_tree(tree: Path, var: Path, turns: int) -> dict[str, Any]:
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir()
    dropped = ("DATABASE_URL", "REDIS_URL", "CHATSITE_LOCAL")
    env = {k: v for k, v in os.environ.items() if k not in dropped} | {
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "CHATSITE_VAR_DIR": str(var),
        "STATIC_ROOT": str(var / "static"),
        "CHATSITE_HTTPS": "0",
        "CHATSITE_DEMO": "0",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "CHATSITE_RUNNING_REPLIES": "100000",
        "CHATSITE_MESSAGES_PER_MINUTE": "100000",
    }
    command = [sys.executable, str(Path(__file__).resolve()), "--tree", str(tree), "--turns", str(turns)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", metavar="REF", help="the commit to compare this checkout with")
    parser.add_argument("--turns", type=int, default=100, help="turn starts per round (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per tree, alternating (default 3)")
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tree:
        return measure_main(Path(args.tree), args.turns)
    if not args.before:
        parser.error("--before REF is required")
    sys.path.insert(0, str(ROOT))
    from bench.relay import export_tree

    with tempfile.TemporaryDirectory(prefix="chatsite-turn-start-") as temporary:
        var = Path(temporary)
        trees = {"before": export_tree(args.before, var), "after": ROOT}
        results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for round_number in range(args.rounds):
            for name, tree in trees.items():
                print(f"  round {round_number + 1}: {name} ...", flush=True)
                results[name].append(run_tree(tree, var / "var", args.turns))
    git = shutil.which("git") or "git"
    head = subprocess.run([git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    command = f".venv/bin/python bench/turn_start.py {' '.join(argv)}"
    print(f"\nCommand: `{command}` (after: {head.stdout.strip()})\n")
    print("| per turn start | before | after | after ÷ before |")
    print("|---|--:|--:|--:|")
    figures: dict[str, dict[str, float]] = {}
    for name, rounds in results.items():
        walls = sorted(wall for result in rounds for wall in result["walls"])
        figures[name] = {
            "wall p50 (ms)": percentile(walls, 0.50) * 1000,
            "wall p99 (ms)": percentile(walls, 0.99) * 1000,
            "database thread CPU (ms)": sum(r["db_cpu"] for r in rounds) / len(rounds) * 1000,
            "queries": sum(r["queries"] for r in rounds) / len(rounds),
        }
    for key in figures["before"]:
        before, after = figures["before"][key], figures["after"][key]
        print(f"| {key} | {before:.2f} | {after:.2f} | {after / before:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Benchmark of two Daphne processes: what a viewer on the other process costs (issue 13, item 4).

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/scale.py
    ... bench/scale.py --levels 20,50 --seconds 6 --shapes 10x10,10x50,20x25
    ... bench/scale.py --readme            also write the tables into bench/README.md

Needs PostgreSQL and Redis (`DATABASE_URL`, `REDIS_URL`: a new database named
after the one in `DATABASE_URL` plus `_scale` is made and dropped, the Redis
keys get a prefix of their own); without them it says so and stops.

One run starts the SketricGen fake (bench/relay.py's, its own process) and two
Daphne processes of one site, A and B, straight on their ports (no nginx, so
each tab is on the process the benchmark chose). A client process (this script
again, `--role client`) opens, per stream, the owner's tab on A, which sends
the message and reads the reply, and, when measuring the remote viewer, a
second tab of the same conversation on B, open before the message is sent.
Every text delta carries the fake's send time (`[[stamp]]`), so each tab's
latency per event is its receive time minus the stamp; the viewer's added
latency is its percentile minus the owner's, in the same run.

Per level of N streams it measures twice, without and with the viewers on B:
the CPU seconds of A and of B (psutil) from when every tab is open until every
reply has ended, per relayed event, lost events and `seq` gaps on each tab.

Then the reply shapes (`--shapes`, `SECONDSxRATE`): a few streams with a viewer
on B, while `MONITOR` on Redis counts the commands that name this run's key
prefix (the two processes' channel layer; Lua lines not counted), per reply.
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.relay import (  # noqa: E402 - after the path is set
    Bench,
    Stream,
    close_all,
    cpu_seconds,
    free_port,
    machine,
    percentile,
    prompt,
    psutil_busy,
)

README = ROOT / "bench" / "README.md"
RESULTS_START = "<!-- scale:start -->"
RESULTS_END = "<!-- scale:end -->"

# Each text delta of the fake starts with its stamp and a space: the deltas a snapshot holds are counted
# by them. A stamp follows the token before it without a space ("ipsum1764...", "| 11764..."), so
# only what follows it marks it.
STAMP = re.compile(r"\d{19}(?= )")

DEFAULT_LEVELS = (20, 50, 100)
LEVEL_RATE = 20  # events per second per stream at each level
# Reply shapes for the Redis count: (seconds, events per second). The first two last as long with
# 5x and 10x the deltas; the last has the second's deltas over twice the time.
DEFAULT_SHAPES = ((10, 10), (10, 50), (10, 100), (20, 25))
SHAPE_STREAMS = 5

# Targets from the issue.
TARGET_CPU_RATIO = 1.5


# ----------------------------------------------------------------------------------------------
# The client (a separate process): owner tabs on A, viewer tabs on B
# ----------------------------------------------------------------------------------------------


@dataclass
class TabStream(Stream):
    snapshots: int = 0  # snapshots received (a tab that began watching after the first deltas)
    repeated: int = 0  # events received again, with a seq the tab already had


async def open_tab(url: str, conversation_id: str, cookie: str, limit: asyncio.Semaphore) -> Any:
    from websockets.asyncio.client import connect

    async with limit:
        return await connect(
            f"ws{url.removeprefix('http')}/ws/conversations/{conversation_id}/",
            origin=url,
            additional_headers={"Cookie": cookie},
            ping_interval=None,
            open_timeout=60,
            close_timeout=5,
            max_size=8 * 1024 * 1024,
        )


async def read_reply(
    ws: Any, latencies: list[int], seconds: float, send: str = "", start_after: float = 0
) -> "TabStream":
    """Read one reply's frames on `ws` until `reply.ended`, after sending `send` (the owner's tab)."""
    stream = TabStream()
    if isinstance(ws, BaseException):  # the tab did not open: all its deltas are lost
        stream.error = f"not connected: {type(ws).__name__}"
        return stream
    last_seq: int | None = None
    try:
        async with asyncio.timeout(seconds):
            if send:
                await asyncio.sleep(start_after)
                stream.asked = time.time()
                await ws.send(json.dumps({"type": "send", "text": send, "client_id": secrets.token_hex(4)}))
            async for raw in ws:
                now = time.time_ns()
                message = json.loads(raw)
                kind, seq = message["type"], message.get("seq")
                if kind == "reply.started":
                    last_seq = seq
                elif kind == "reply.snapshot":  # a tab that began watching after the first deltas
                    if last_seq is None or seq > last_seq:
                        last_seq = seq
                        stream.received = len(STAMP.findall(message["text"]))
                    stream.snapshots += 1
                elif kind == "reply.ended":
                    if last_seq is not None and seq != last_seq + 1:
                        stream.gaps += 1
                    stream.finished = message["status"] == "complete"
                    if not stream.finished:
                        stream.error = f"{message['status']}: {message.get('error', '')}"[:200]
                    break
                elif kind == "error":
                    stream.error = message.get("code", "error")
                    break
                elif seq is not None:  # a numbered event: a text delta, a live render of the open block
                    if last_seq is not None and seq <= last_seq:
                        stream.repeated += 1  # a page ignores an event it has (after a snapshot)
                        continue
                    if last_seq is not None and seq != last_seq + 1:
                        stream.gaps += 1
                    last_seq = seq
                    if kind == "text_delta":
                        latencies.append(now - int(message["text"].split(" ", 1)[0]))
                        stream.delta()
    except Exception as exc:  # a broken stream is counted, not fatal
        stream.error = type(exc).__name__
    return stream


def summary(streams: list[TabStream], latencies: list[int], words: int) -> dict[str, Any]:
    errors: dict[str, int] = {}
    for stream in streams:
        if stream.error:
            errors[stream.error] = errors.get(stream.error, 0) + 1
    ordered = sorted(latencies)
    return {
        "received": sum(s.received for s in streams),
        "lost": sum(max(0, words - s.received) for s in streams),
        "gaps": sum(s.gaps for s in streams),
        "unfinished": sum(1 for s in streams if not s.finished),
        "snapshots": sum(s.snapshots for s in streams),
        "repeated": sum(s.repeated for s in streams),
        "errors": errors,
        "p50": percentile(ordered, 0.5),
        "p99": percentile(ordered, 0.99),
    }


async def phase(name: str) -> None:
    """Tell the orchestrator `name` is reached and wait for its "go"."""
    print(json.dumps({"phase": name}), flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if line.strip() != "go":
        raise RuntimeError(f"expected go, got {line!r}")


async def client_main(config: dict[str, Any]) -> int:
    words, delay, count = config["words"], config["delay"], len(config["ids"])
    timeout = config["ramp"] + words * delay * 2 + 30
    limit = asyncio.Semaphore(25)
    owners = await asyncio.gather(
        *(open_tab(config["a"], c, config["cookie"], limit) for c in config["ids"]), return_exceptions=True
    )
    viewers = []
    if config["viewer"]:
        viewers = await asyncio.gather(
            *(open_tab(config["b"], c, config["cookie"], limit) for c in config["ids"]),
            return_exceptions=True,
        )
    await asyncio.sleep(0.5)  # the viewers' group joins settle
    owner_latencies: list[int] = []
    viewer_latencies: list[int] = []
    try:
        await phase("ready")
        owner_streams, viewer_streams = await asyncio.gather(
            asyncio.gather(
                *(
                    read_reply(
                        ws, owner_latencies, timeout, prompt(words, delay, i), config["ramp"] * i / count
                    )
                    for i, ws in enumerate(owners)
                )
            ),
            asyncio.gather(*(read_reply(ws, viewer_latencies, timeout) for ws in viewers)),
        )
        await phase("done")
    finally:
        await close_all([*owners, *viewers])
    result = {"owner": summary(owner_streams, owner_latencies, words)}
    if viewers:
        result["viewer"] = summary(viewer_streams, viewer_latencies, words)
    print(json.dumps({"result": result}), flush=True)
    return 0


# ----------------------------------------------------------------------------------------------
# Redis: the commands of this run, counted with MONITOR
# ----------------------------------------------------------------------------------------------


class RedisCount:
    """Count, in a thread, the Redis commands (not Lua's) in `db` that name a key under `prefix`."""

    def __init__(self, url: str, prefix: str):
        import redis

        self.client = redis.Redis.from_url(url)
        self.db = self.client.connection_pool.connection_kwargs.get("db", 0)
        self.prefix = prefix
        self.counts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._count, daemon=True)
        self._started = threading.Event()

    def _count(self) -> None:
        with self.client.monitor() as monitor:
            self._started.set()
            while not self._stop.is_set():
                command = monitor.next_command()
                if command["db"] != self.db or command["client_type"] == "lua":
                    continue
                if self.prefix in command["command"]:
                    name = command["command"].split(" ", 1)[0].upper()
                    self.counts[name] = self.counts.get(name, 0) + 1

    def __enter__(self) -> "RedisCount":
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        while self._thread.is_alive():
            self.client.ping()  # the reader sees it and stops
            self._thread.join(timeout=0.2)
        self.client.close()

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# ----------------------------------------------------------------------------------------------
# The orchestrator
# ----------------------------------------------------------------------------------------------


class ScaleBench(Bench):
    """bench/relay.py's Bench (the fake, manage.py, the conversations, signing in) with two processes."""

    def __init__(self, args: argparse.Namespace, database_url: str, redis_url: str):
        from tests.site_process import fresh_postgres_database, postgres_database_url

        super().__init__(argparse.Namespace(before=args.before, keep=args.keep, profile=None))
        self.database_name = f"{urlsplit(database_url).path.lstrip('/') or 'chatsite'}_scale"
        self.database_url = database_url
        self.redis_url = redis_url
        self.prefix = f"chatsite-scale-{os.getpid()}"
        fresh_postgres_database(database_url, self.database_name)
        self.env.update(
            DATABASE_URL=postgres_database_url(database_url, self.database_name),
            REDIS_URL=redis_url,
            CHATSITE_REDIS_PREFIX=self.prefix,
        )
        self.a: subprocess.Popen | None = None
        self.b: subprocess.Popen | None = None
        self.a_url = self.b_url = ""

    def start_processes(self, tree: Path = ROOT) -> None:
        """Start A and B on the code in `tree` (this checkout, or the `--before` commit's), stopping any."""
        self.stop(self.a)
        self.stop(self.b)
        self.daphne_starts += 1
        urls = []
        for name in ("a", "b"):
            port, log = free_port(), f"daphne-{name}-{self.daphne_starts}.log"
            daphne = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"]
            proc = self.spawn([sys.executable, *daphne], log, cwd=tree)
            login = f"http://127.0.0.1:{port}/accounts/login/"
            self.wait_until(proc, lambda login=login: self.httpx.get(login, timeout=2).status_code == 200,
                            f"Daphne {name}", log)  # fmt: skip
            setattr(self, name, proc)
            urls.append(f"http://127.0.0.1:{port}")
        self.a_url, self.b_url = urls
        self.site_port = int(self.a_url.rsplit(":", 1)[1])
        self.cookie = self.log_in()

    def close(self) -> None:
        from tests.site_process import drop_postgres_database

        super().close()
        with contextlib.suppress(Exception):
            drop_postgres_database(self.database_url, self.database_name)

    def measure(
        self,
        streams: int,
        seconds: float,
        rate: float,
        *,
        viewer: bool,
        ramp: float,
        count_redis: bool = False,
    ) -> dict[str, Any]:
        words, delay = max(2, round(seconds * rate)), 1 / rate
        config = {
            "a": self.a_url, "b": self.b_url, "cookie": self.cookie, "ids": self.take_ids(streams),
            "viewer": viewer, "words": words, "delay": delay, "ramp": ramp,
        }  # fmt: skip
        name = f"client-{streams}-{words}-{int(viewer)}-{time.monotonic_ns()}.json"
        client = self.start_client(Path(__file__), config, name)
        a, b = self.psutil.Process(self.a.pid), self.psutil.Process(self.b.pid)
        marks: dict[str, dict[str, float]] = {}
        counter: RedisCount | None = None
        result: dict[str, Any] = {}
        assert client.stdin is not None and client.stdout is not None
        try:
            for line in client.stdout:
                message = json.loads(line)
                if "result" in message:
                    result = message["result"]
                    break
                name = message["phase"]
                if name == "done" and counter is not None:
                    counter.__exit__()
                marks[name] = {"time": time.monotonic(), "a": cpu_seconds(a), "b": cpu_seconds(b),
                               "busy": psutil_busy(self.psutil)}  # fmt: skip
                if name == "ready" and count_redis:
                    counter = RedisCount(self.redis_url, self.prefix).__enter__()
                client.stdin.write("go\n")
                client.stdin.flush()
            client.wait(timeout=30)
        finally:
            if counter is not None:
                counter.__exit__()
            self.stop(client)
        if not result:
            raise RuntimeError("the client ended without a result")
        ready, done = marks["ready"], marks["done"]
        wall = done["time"] - ready["time"]
        return {
            "streams": streams, "seconds": seconds, "rate": rate, "words": words, "viewer": viewer,
            **result,
            "a_cpu": done["a"] - ready["a"], "b_cpu": done["b"] - ready["b"], "wall": wall,
            "machine_cores": (done["busy"] - ready["busy"]) / wall,
            "redis": dict(counter.counts) if counter else None,
        }  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------


def per_event_ms(cpu: float, events: int) -> float:
    return cpu / events * 1000 if events else float("nan")


def added(viewer: float | None, owner: float | None) -> str:
    return "" if viewer is None or owner is None else f"{viewer - owner:.1f}"


def report(levels: list[tuple[dict[str, Any], dict[str, Any]]], shapes: list[dict[str, Any]]) -> str:
    out = []
    if levels:
        out += [
            f"Per level, N streams of {LEVEL_RATE} events/s, the owner's tab on A; measured without and with "
            "a second tab of each conversation on B. CPU in ms per relayed text delta (the deltas the owners "
            "received); latency in ms (receive time − the fake's stamp).",
            "",
            "| streams | viewer on B | deltas (owner / viewer) | lost o / v | seq gaps o / v "
            "| unfinished o / v | viewer snapshots | A CPU ms/event | B CPU ms/event | owner p50 / p99 "
            "| viewer p50 / p99 | **viewer added p50 / p99** | machine busy (cores) |",
            "|--:|:-:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for alone, shared in levels:
            for run in (alone, shared):
                o, v = run["owner"], run.get("viewer")
                viewer_latency = f"{v['p50']:.1f} / {v['p99']:.1f}" if v else "–"
                viewer_added = f"**{added(v['p50'], o['p50'])} / {added(v['p99'], o['p99'])}**" if v else "–"
                out.append(
                    f"| {run['streams']} | {'yes' if v else 'no'} "
                    f"| {o['received']} / {v['received'] if v else '–'} "
                    f"| {o['lost']} / {v['lost'] if v else '–'} | {o['gaps']} / {v['gaps'] if v else '–'} "
                    f"| {o['unfinished']} / {v['unfinished'] if v else '–'} | {v['snapshots'] if v else '–'} "
                    f"| {per_event_ms(run['a_cpu'], o['received']):.3f} "
                    f"| {per_event_ms(run['b_cpu'], v['received']) if v else float('nan'):.3f} "
                    f"| {o['p50']:.1f} / {o['p99']:.1f} "
                    f"| {viewer_latency} | {viewer_added} "
                    f"| {run['machine_cores']:.2f} |"
                )
        out += [
            "",
            "| streams | A CPU per event, with ÷ without the viewer on B | target ≤ 1.5× |",
            "|--:|--:|:-:|",
        ]
        for alone, shared in levels:
            ratio = per_event_ms(shared["a_cpu"], shared["owner"]["received"]) / per_event_ms(
                alone["a_cpu"], alone["owner"]["received"]
            )
            verdict = "met" if ratio <= TARGET_CPU_RATIO else "**missed**"
            out.append(f"| {alone['streams']} | {ratio:.2f}× | {verdict} |")
        out.append("")
    if shapes:
        out += [
            f"Redis commands per reply, by reply shape ({SHAPE_STREAMS} streams each; commands naming this "
            "run's key prefix, counted with `MONITOR` while the replies ran; Lua's own calls not counted):",
            "",
            "| reply | deltas | viewer on B | Redis commands per reply | of which ZADD | BZPOPMIN "
            "| lost o / v | gaps o / v |",
            "|--|--:|:-:|--:|--:|--:|--:|--:|",
        ]
        for run in shapes:
            redis, o, v = run["redis"] or {}, run["owner"], run.get("viewer")
            n = run["streams"]
            out.append(
                f"| {run['seconds']:g} s at {run['rate']:g}/s | {run['words']} | {'yes' if v else 'no'} "
                f"| {sum(redis.values()) / n:.0f} | {redis.get('ZADD', 0) / n:.0f} "
                f"| {redis.get('BZPOPMIN', 0) / n:.0f} | {o['lost']} / {v['lost'] if v else '–'} "
                f"| {o['gaps']} / {v['gaps'] if v else '–'} |"
            )
        out.append("")
    return "\n".join(out)


def write_readme(table: str) -> None:
    text = README.read_text()
    start, end = text.find(RESULTS_START), text.find(RESULTS_END)
    if start < 0 or end < 0:
        raise RuntimeError(f"bench/README.md has no {RESULTS_START} ... {RESULTS_END} block")
    README.write_text(text[: start + len(RESULTS_START)] + "\n" + table + "\n" + text[end:])


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--levels", default=",".join(map(str, DEFAULT_LEVELS)), help="stream counts (default 20,50,100)"
    )
    parser.add_argument(
        "--seconds", type=float, default=9, help="length of a stream at each level (default 9)"
    )
    parser.add_argument(
        "--shapes",
        default=",".join(f"{s}x{r}" for s, r in DEFAULT_SHAPES),
        help="reply shapes SECONDSxRATE for the Redis count (default 10x10,10x50,10x100,20x25)",
    )
    parser.add_argument(
        "--readme", action="store_true", help=f"write the tables into bench/README.md ({RESULTS_START})"
    )
    parser.add_argument(
        "--before", metavar="REF", help="also measure A and B at this commit, in the same run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir (logs)")
    parser.add_argument("--role", choices=["client"], help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.levels = [int(x) for x in args.levels.split(",") if x.strip()]
    args.shapes = [tuple(float(x) for x in s.split("x")) for s in args.shapes.split(",") if s.strip()]
    return args


def orchestrate(args: argparse.Namespace, argv: list[str]) -> int:
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres") or not redis_url:
        print(
            "bench/scale.py skipped: two processes need PostgreSQL and Redis; "
            "set DATABASE_URL (postgres://...) and REDIS_URL (redis://...)."
        )
        return 0
    command = " ".join([".venv/bin/python", "bench/scale.py", *argv])
    bench = ScaleBench(args, database_url, redis_url)
    trees = [(f"before ({args.before})", bench.before_tree)] if bench.before_tree else []
    trees.append(("this tree" if bench.before_tree else "", ROOT))
    results: list[tuple[str, list[tuple[dict[str, Any], dict[str, Any]]], list[dict[str, Any]]]] = []
    started = time.monotonic()
    try:
        print(f"Setting up in {bench.var} ...", flush=True)
        bench.start_fake()
        per_tree = 2 * sum(args.levels) + SHAPE_STREAMS * (len(args.shapes) + 1) + 2
        bench.prepare_site(per_tree * len(trees))
        for label, tree in trees:
            print(f"Site: {label or 'this tree'}", flush=True)
            levels: list[tuple[dict[str, Any], dict[str, Any]]] = []
            shapes: list[dict[str, Any]] = []
            results.append((label, levels, shapes))
            measure_tree(bench, args, tree, levels, shapes)
    except KeyboardInterrupt:
        print("Interrupted; reporting what was measured.", file=sys.stderr)
    finally:
        with contextlib.suppress(OSError):
            (bench.var / "results.json").write_text(json.dumps(results, indent=1))
        bench.close()
    table = f"Machine: {machine()}\n\nCommand: `{command}`\n\n"
    table += "\n".join(
        (f"#### {label}\n\n" if label else "") + report(levels, shapes) for label, levels, shapes in results
    )
    print()
    print(table)
    print(f"Total time: {time.monotonic() - started:.0f} s")
    if args.readme:
        write_readme(table)
        print(f"Written to {README.relative_to(ROOT)}")
    return 0


def measure_tree(
    bench: ScaleBench,
    args: argparse.Namespace,
    tree: Path,
    levels: list[tuple[dict[str, Any], dict[str, Any]]],
    shapes: list[dict[str, Any]],
) -> None:
    """Every level, without and with the viewers on B, then every reply shape, on A and B run from `tree`."""
    bench.start_processes(tree)
    print("  warming up ...", flush=True)
    bench.measure(2, 1, 10, viewer=True, ramp=0)
    for streams in args.levels:
        print(f"Level {streams}:", flush=True)
        bench.wait_for_quiet()
        alone = bench.measure(streams, args.seconds, LEVEL_RATE, viewer=False, ramp=2.0)
        bench.wait_for_quiet()
        shared = bench.measure(streams, args.seconds, LEVEL_RATE, viewer=True, ramp=2.0)
        levels.append((alone, shared))
    for index, (seconds, rate) in enumerate(args.shapes):
        print(f"Reply shape {seconds:g} s at {rate:g}/s:", flush=True)
        if index == 0:  # the same replies with nobody on B: what a reply costs in Redis anyway
            shapes.append(
                bench.measure(SHAPE_STREAMS, seconds, rate, viewer=False, ramp=0.5, count_redis=True)
            )
        shapes.append(bench.measure(SHAPE_STREAMS, seconds, rate, viewer=True, ramp=0.5, count_redis=True))


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.role == "client":
        return asyncio.run(client_main(json.loads(Path(args.config).read_text())))
    return orchestrate(args, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

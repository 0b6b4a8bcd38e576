#!/usr/bin/env python3
"""Benchmark of the relay: what the site adds to a platform's stream, and how many streams it holds.

    .venv/bin/python bench/relay.py            the full run (about 4 minutes), writes bench/README.md
    .venv/bin/python bench/relay.py --quick    a small run to check that everything works
    .venv/bin/python bench/relay.py --levels 100,300 --seconds 6
    .venv/bin/python bench/relay.py --loop-stall   how long CPU-heavy steps hold up the event loop

One run starts the SketricGen fake (uvicorn, its own process), then the site
under Daphne (its own process, a temporary var dir, SQLite, DEBUG off) once per
measurement, and drives both from client processes (this script again, with
`--role client`):

- direct: the fake's SSE stream read with httpx + httpx-sse, the way the site
  itself reads it (the baseline);
- site: the same replies asked for and read through the site's websocket.

The fake's `[[stamp]]` directive puts its send time on every text delta, so the
latency of an event is (receive time - stamp), on one machine and one clock.
The added latency is the site's percentile minus the direct percentile.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import queue
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

README = ROOT / "bench" / "README.md"
RESULTS_START = "<!-- results:start -->"
RESULTS_END = "<!-- results:end -->"

SWEEP_RATE = 20  # events per second per stream in the sweep
LATENCY_RATE = 50  # events per second per stream for the added-latency measurement
DEFAULT_LEVELS = (50, 100, 200, 300, 500)
AGENT_ID = "agent-bench"
API_KEY = "demo-key"
USERNAME = "bench"

# Targets from the issue.
TARGET_ADDED_P50_MS = 1.0
TARGET_ADDED_P99_MS = 3.0
TARGET_STREAMS = 300
TARGET_SWEEP_ADDED_P99_MS = 50.0
TARGET_RSS_PER_CONNECTION_KB = 64.0

SETUP_SCRIPT = """
import json, os
from django.contrib.auth import get_user_model
from agents.models import Agent, Credential, Platform
from conversations.models import Conversation

user, _ = get_user_model().objects.get_or_create(username=os.environ["BENCH_USERNAME"])
user.set_password(os.environ["BENCH_PASSWORD"])
user.save()
credential, _ = Credential.objects.get_or_create(
    name="Benchmark fake",
    defaults={"platform": Platform.SKETRICGEN, "base_url": os.environ["BENCH_FAKE_URL"]},
)
credential.base_url = os.environ["BENCH_FAKE_URL"]
credential.set_api_key(os.environ["BENCH_API_KEY"])
credential.save()
agent, _ = Agent.objects.update_or_create(
    slug="bench",
    defaults={"name": "Benchmark", "credential": credential,
              "upstream_agent_id": os.environ["BENCH_AGENT_ID"], "enabled": True},
)
count = int(os.environ["BENCH_CONVERSATIONS"])
conversations = Conversation.objects.bulk_create(
    [Conversation(owner=user, agent=agent) for _ in range(count)], batch_size=500
)
print("BENCH_IDS " + json.dumps([c.pk for c in conversations]))
"""


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(ordered: list[int], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list, in milliseconds."""
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index] / 1e6


def prompt(words: int, delay: float, index: int) -> str:
    return f"[[stamp]] [[words={words}]] [[delay={delay:g}]] benchmark stream {index}"


def cpu_seconds(proc: Any) -> float:
    times = proc.cpu_times()
    return times.user + times.system


# ----------------------------------------------------------------------------------------------
# The fake, in its own process
# ----------------------------------------------------------------------------------------------


def serve_fake(port: int) -> int:
    import uvicorn

    from agents.fakes.sketricgen import SketricGenFake

    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on such sockets, and without it
    # small SSE writes can wait for a delayed ACK (see tests/fakes.py).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        SketricGenFake(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
        backlog=4096,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


# ----------------------------------------------------------------------------------------------
# The client (a separate process): direct or through the site
# ----------------------------------------------------------------------------------------------


@dataclass
class Stream:
    received: int = 0
    gaps: int = 0
    finished: bool = False
    error: str = ""
    asked: float = 0.0  # wall-clock seconds: when the message was sent,
    first: float = 0.0  # when its first text delta arrived,
    last: float = 0.0  # and its last

    def delta(self) -> None:
        self.received += 1
        self.last = time.time()
        if not self.first:
            self.first = self.last


@dataclass
class ClientRun:
    """One client process's share of a measurement. It reports each phase and waits for "go"."""

    config: dict[str, Any]
    latencies: list[int] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)

    def say(self, **fields: Any) -> None:
        print(json.dumps(fields), flush=True)

    async def phase(self, name: str, proc: Any, **extra: Any) -> None:
        """Tell the orchestrator `name` is reached, then wait until every client process has reached it."""
        self.say(phase=name, cpu=cpu_seconds(proc), rss=proc.memory_info().rss, **extra)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.config["deadline"]):
            line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.strip() != "go":
            raise RuntimeError(f"expected go, got {line!r}")


class PeakRss:
    """The highest RSS of a process, sampled every `interval` seconds in this event loop."""

    def __init__(self, proc: Any, interval: float = 0.2):
        self.proc = proc
        self.interval = interval
        self.peak = proc.memory_info().rss
        self._task: asyncio.Task | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        self.peak = max(self.peak, self.proc.memory_info().rss)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def direct_stream(client: Any, run: ClientRun, index: int, start_after: float, words: int) -> Stream:
    from httpx_sse import EventSource

    config = run.config
    stream = Stream()
    await asyncio.sleep(start_after)
    body = {"agent_id": AGENT_ID, "user_input": prompt(words, config["delay"], index), "stream": True}
    headers = {"api-key": API_KEY, "Accept": "text/event-stream"}
    try:
        async with asyncio.timeout(config["stream_timeout"]):
            url = config["url"] + "/api/v1/run-workflow"
            stream.asked = time.time()
            async with client.stream("POST", url, json=body, headers=headers) as response:
                async for sse in EventSource(response).aiter_sse():
                    now = time.time_ns()
                    if not sse.data:
                        continue
                    data = json.loads(sse.data)
                    kind = data.get("type")
                    if kind == "TEXT_MESSAGE_CONTENT":
                        run.latencies.append(now - int(data["delta"].split(" ", 1)[0]))
                        stream.delta()
                    elif kind == "RUN_FINISHED":
                        stream.finished = True
                        break
    except Exception as exc:  # a broken stream is counted, not fatal
        stream.error = type(exc).__name__
    return stream


def stagger(config: dict[str, Any], i: int) -> float:
    """When stream `i` of this process starts: all streams of a measurement spread over the ramp."""
    return config["ramp"] * (config["first"] + i) / config["total"]


async def run_direct(run: ClientRun, me: Any) -> dict[str, Any]:
    import httpx

    config = run.config
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=60)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30.0)) as client:
        # Warm up: imports and first-use costs are not per-connection costs.
        await direct_stream(client, run, -1, 0, 10)
        run.latencies.clear()
        await asyncio.sleep(0.3)
        await run.phase("warm", me)
        await run.phase("ready", me)
        peak = PeakRss(me)
        peak.start()
        words = config["words"]
        run.streams = await asyncio.gather(
            *(direct_stream(client, run, i, stagger(config, i), words) for i in range(config["streams"]))
        )
        await peak.stop()
        await run.phase("done", me, peak=peak.peak)
    return {}


async def site_connect(run: ClientRun, conversation_id: str, limit: asyncio.Semaphore) -> Any:
    from websockets.asyncio.client import connect

    config = run.config
    async with limit:
        return await connect(
            f"{config['ws_url']}/ws/conversations/{conversation_id}/",
            origin=config["origin"],
            additional_headers={"Cookie": config["cookie"]},
            ping_interval=None,
            open_timeout=30,
            close_timeout=5,
            max_size=8 * 1024 * 1024,
        )


async def site_stream(ws: Any, run: ClientRun, index: int, start_after: float, words: int) -> Stream:
    config = run.config
    stream = Stream()
    await asyncio.sleep(start_after)
    last_seq: int | None = None
    try:
        async with asyncio.timeout(config["stream_timeout"]):
            text = prompt(words, config["delay"], index)
            stream.asked = time.time()
            await ws.send(json.dumps({"type": "send", "text": text, "client_id": f"bench-{index}"}))
            async for raw in ws:
                now = time.time_ns()
                message = json.loads(raw)
                kind = message["type"]
                if kind == "text_delta":
                    run.latencies.append(now - int(message["text"].split(" ", 1)[0]))
                    stream.delta()
                    if last_seq is not None and message["seq"] != last_seq + 1:
                        stream.gaps += 1
                    last_seq = message["seq"]
                elif kind == "reply.started":
                    last_seq = message["seq"]
                elif kind in ("text_live", "tool_started", "tool_finished", "activity"):
                    if last_seq is not None and message["seq"] != last_seq + 1:
                        stream.gaps += 1
                    last_seq = message["seq"]
                elif kind == "reply.ended":
                    if last_seq is not None and message["seq"] != last_seq + 1:
                        stream.gaps += 1
                    stream.finished = message["status"] == "complete"
                    if not stream.finished:
                        stream.error = f"{message['status']}: {message.get('error', '')}"[:200]
                    break
                elif kind == "error":
                    stream.error = message.get("code", "error")
                    break
    except Exception as exc:  # a broken stream is counted, not fatal
        stream.error = type(exc).__name__
    return stream


async def close_all(sockets: list[Any]) -> None:
    async def close(ws: Any) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await ws.close()

    await asyncio.gather(*(close(ws) for ws in sockets))


async def run_site(run: ClientRun, me: Any) -> dict[str, Any]:
    config = run.config
    warm = await site_connect(run, config["warm_id"], asyncio.Semaphore(1))
    extensions = warm.response.headers.get("Sec-WebSocket-Extensions", "")
    await site_stream(warm, run, -1, 0, 10)
    await close_all([warm])
    run.latencies.clear()
    await asyncio.sleep(0.3)
    await run.phase("warm", me)
    limit = asyncio.Semaphore(25)
    sockets: list[Any] = []
    try:
        async with asyncio.timeout(config["connect_timeout"]):
            results = await asyncio.gather(
                *(site_connect(run, cid, limit) for cid in config["ids"]), return_exceptions=True
            )
        sockets = [ws for ws in results if not isinstance(ws, BaseException)]
        failed = [type(ws).__name__ for ws in results if isinstance(ws, BaseException)]
        await run.phase("ready", me, failed=failed[:5])
        peak = PeakRss(me)
        peak.start()
        words = config["words"]
        run.streams = await asyncio.gather(
            *(site_stream(ws, run, i, stagger(config, i), words) for i, ws in enumerate(sockets))
        )
        run.streams += [Stream(error=name) for name in failed]
        await peak.stop()
        await run.phase("done", me, peak=peak.peak)
    finally:
        await close_all(sockets)
    return {"extensions": extensions}


async def client_main(config: dict[str, Any]) -> int:
    import psutil

    run = ClientRun(config)
    me = psutil.Process()
    async with asyncio.timeout(config["deadline"]):
        extra = await (run_direct(run, me) if config["mode"] == "direct" else run_site(run, me))
    errors: dict[str, int] = {}
    for stream in run.streams:
        if stream.error:
            errors[stream.error] = errors.get(stream.error, 0) + 1
    words, missing = config["words"], max(0, config["streams"] - len(run.streams))
    run.say(
        result={
            **extra,
            "expected": words * config["streams"],
            "received": sum(s.received for s in run.streams),
            "lost": sum(max(0, words - s.received) for s in run.streams) + words * missing,
            "gaps": sum(s.gaps for s in run.streams),
            "unfinished": sum(1 for s in run.streams if not s.finished) + missing,
            "errors": errors,
            "latencies_us": [round(ns / 1000) for ns in run.latencies],
            "spans": [[s.asked, s.first, s.last] for s in run.streams if s.first],
        }
    )
    return 0


# ----------------------------------------------------------------------------------------------
# The orchestrator
# ----------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace):
        import httpx
        import psutil

        self.httpx = httpx
        self.psutil = psutil
        self.args = args
        self.var = Path(tempfile.mkdtemp(prefix="chatsite-bench-"))
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Any] = []
        self.fake_port = free_port()
        self.fake_url = f"http://127.0.0.1:{self.fake_port}"
        self.fake: subprocess.Popen | None = None
        self.site: subprocess.Popen | None = None
        self.site_port = 0
        self.password = secrets.token_urlsafe(16)
        self.cookie = ""
        self.ids: list[str] = []
        # SQLite and the in-memory layer in a temporary var dir, whatever this shell points at.
        dropped = ("DATABASE_URL", "REDIS_URL", "CHATSITE_LOCAL")
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        self.env = {
            **env,
            "CHATSITE_VAR_DIR": str(self.var),
            "STATIC_ROOT": str(self.var / "static"),
            "CHATSITE_HTTPS": "0",
            "CHATSITE_DEMO": "0",
            # The fake platform runs on 127.0.0.1.
            "UPSTREAM_ALLOW_LOOPBACK": "1",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # Every stream is the same user's: lift the per-user limits above the largest level.
            "CHATSITE_RUNNING_REPLIES": "100000",
            "CHATSITE_MESSAGES_PER_MINUTE": "100000",
            "CHATSITE_SOCKETS_PER_USER": "100000",
        }
        self.daphne_starts = 0
        # The `--before` commit's code, exported, to measure the site before a change in the same run.
        self.before_tree: Path | None = None
        if args.before:
            self.before_tree = export_tree(args.before, self.var)

    # --- processes -----------------------------------------------------------------------------

    def start_client(self, script: Path, config: dict[str, Any], config_name: str) -> subprocess.Popen:
        """`script --role client` with `config` (written to `config_name`), its stdout piped."""
        path = self.var / config_name
        path.write_text(json.dumps(config))
        client = subprocess.Popen(
            [sys.executable, str(script.resolve()), "--role", "client", "--config", str(path)],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.processes.append(client)
        return client

    def spawn(
        self, args: list[str], log_name: str, env: dict[str, str] | None = None, cwd: Path = ROOT
    ) -> subprocess.Popen:
        log = open(self.var / log_name, "w")  # noqa: SIM115 - closed in close()
        self.logs.append(log)
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.processes.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen | None) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def close(self) -> None:
        for proc in reversed(self.processes):
            self.stop(proc)
        for log in self.logs:
            log.close()
        if self.args.keep:
            print(f"Kept {self.var}")
        else:
            shutil.rmtree(self.var, ignore_errors=True)

    def wait_until(
        self, proc: subprocess.Popen, check: Any, what: str, log_name: str, timeout: float = 30
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if check():
                    return
            except self.httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start:\n{(self.var / log_name).read_text()[-3000:]}")
            time.sleep(0.1)

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def start_fake(self) -> None:
        self.fake = self.spawn(
            [sys.executable, str(Path(__file__).resolve()), "--role", "fake", "--port", str(self.fake_port)],
            "fake.log",
        )
        url, headers = f"{self.fake_url}/admin/v1/teamspaces", {"Authorization": f"Bearer {API_KEY}"}
        self.wait_until(
            self.fake,
            lambda: self.httpx.get(url, headers=headers, timeout=2).status_code == 200,
            "the fake",
            "fake.log",
        )

    def prepare_site(self, conversations: int) -> None:
        self.manage("migrate", "--no-input")
        self.manage("collectstatic", "--no-input")
        env = {
            **self.env,
            "BENCH_USERNAME": USERNAME,
            "BENCH_PASSWORD": self.password,
            "BENCH_FAKE_URL": self.fake_url,
            "BENCH_API_KEY": API_KEY,
            "BENCH_AGENT_ID": AGENT_ID,
            "BENCH_CONVERSATIONS": str(conversations),
        }
        out = self.manage("shell", "-c", SETUP_SCRIPT, env=env)
        line = next(line for line in out.splitlines() if line.startswith("BENCH_IDS "))
        self.ids = json.loads(line.removeprefix("BENCH_IDS "))

    def take_ids(self, count: int) -> list[str]:
        taken, self.ids = self.ids[:count], self.ids[count:]
        if len(taken) < count:
            raise RuntimeError("not enough conversations were created")
        return taken

    def start_site(self, tree: Path = ROOT) -> None:
        """Start Daphne on the code in `tree`: this checkout, or the `--before` commit's."""
        self.stop(self.site)
        self.daphne_starts += 1
        self.site_port = free_port()
        log_name = f"daphne-{self.daphne_starts}.log"
        daphne = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(self.site_port), "chatsite.asgi:application"]
        self.site = self.spawn([sys.executable, *daphne], log_name, cwd=tree)
        login = f"http://127.0.0.1:{self.site_port}/accounts/login/"
        self.wait_until(
            self.site, lambda: self.httpx.get(login, timeout=2).status_code == 200, "Daphne", log_name
        )
        if not self.cookie:
            self.cookie = self.log_in()

    def log_in(self) -> str:
        site = f"http://127.0.0.1:{self.site_port}"
        with self.httpx.Client(base_url=site, headers={"Origin": site}, timeout=10) as client:
            page = client.get("/accounts/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            if token is None:
                raise RuntimeError("no CSRF token on the login page")
            response = client.post(
                "/accounts/login/",
                data={"username": USERNAME, "password": self.password, "csrfmiddlewaretoken": token.group(1)},
                headers={"Referer": f"{site}/accounts/login/"},
            )
            session = client.cookies.get("sessionid")
            if response.status_code != 302 or not session:
                raise RuntimeError(f"login failed: HTTP {response.status_code}")
            return f"sessionid={session}"

    def profile(self, running: subprocess.Popen | None, pid: int, name: str) -> subprocess.Popen | None:
        """Stop the running py-spy (it writes its file on SIGINT); start one on `pid` unless it is 0."""
        if running is not None and running.poll() is None:
            running.send_signal(signal.SIGINT)
            try:
                running.wait(timeout=30)
            except subprocess.TimeoutExpired:
                running.kill()
                running.wait(timeout=5)
        if not pid or name.endswith("-done"):
            return None
        out = Path(self.args.profile) / f"site-{name}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        command = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--rate", "100"]
        command += ["--format", "raw", "--output", str(out)]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(proc)
        return proc

    # --- one measurement -----------------------------------------------------------------------

    def run_clients(self, mode: str, streams: int, words: int, delay: float, ramp: float) -> dict[str, Any]:
        """Run one measurement with as many client processes as it needs; merged results and usage."""
        stream_timeout = ramp + words * delay * 2 + 30
        base: dict[str, Any] = {
            "mode": mode,
            "total": streams,
            "words": words,
            "delay": delay,
            "ramp": ramp,
            "stream_timeout": stream_timeout,
            "connect_timeout": 60 + streams * 0.2,
            "url": self.fake_url,
        }
        base["deadline"] = base["connect_timeout"] + stream_timeout + 60
        site_url = f"http://127.0.0.1:{self.site_port}"
        if mode == "site":
            base.update(ws_url=f"ws://127.0.0.1:{self.site_port}", origin=site_url, cookie=self.cookie)
        count = max(1, -(-streams // self.args.client_streams))
        clients: list[subprocess.Popen] = []
        lines: queue.Queue[tuple[int, str | None]] = queue.Queue()

        def read(index: int, stdout: Any) -> None:
            for line in stdout:
                lines.put((index, line))
            lines.put((index, None))

        for index in range(count):
            first, last = streams * index // count, streams * (index + 1) // count
            config = {**base, "first": first, "streams": last - first}
            if mode == "site":
                config.update(warm_id=self.take_ids(1)[0], ids=self.take_ids(last - first))
            proc = self.start_client(Path(__file__), config, f"client-{mode}-{streams}-{index}.json")
            clients.append(proc)
            threading.Thread(target=read, args=(index, proc.stdout), daemon=True).start()

        site = self.psutil.Process(self.site.pid) if mode == "site" and self.site else None
        fake = self.psutil.Process(self.fake.pid)
        peak = {"rss": 0}
        sampling, stop_sampling = threading.Event(), threading.Event()

        def sample() -> None:
            while not stop_sampling.wait(0.2):
                if sampling.is_set() and site is not None:
                    with contextlib.suppress(self.psutil.Error):
                        peak["rss"] = max(peak["rss"], site.memory_info().rss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        marks: dict[str, dict[str, Any]] = {}
        reports: dict[str, dict[int, dict[str, Any]]] = {"warm": {}, "ready": {}, "done": {}}
        results: dict[int, dict[str, Any]] = {}
        profiler: subprocess.Popen | None = None
        deadline = time.monotonic() + base["deadline"] + 15
        ended = 0
        try:
            while ended < count:
                try:
                    index, line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    raise RuntimeError(f"the {mode} clients did not finish in time") from None
                if line is None:
                    ended += 1
                    if index not in results:
                        raise RuntimeError(f"{mode} client {index} failed (see above)")
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    print(line, end="", file=sys.stderr)
                    continue
                if "result" in message:
                    results[index] = message["result"]
                    continue
                phase = message["phase"]
                reports[phase][index] = message
                if message.get("failed"):
                    print(f"  connections failed: {message['failed']}", file=sys.stderr)
                if len(reports[phase]) < count:
                    continue
                # Every client process is at `phase`: take the mark, then let them all go on.
                times = psutil_busy(self.psutil)
                mark = {"time": time.monotonic(), "fake_cpu": cpu_seconds(fake), "busy": times}
                if site is not None:
                    mark.update(site_cpu=cpu_seconds(site), site_rss=site.memory_info().rss)
                    peak["rss"] = max(peak["rss"], mark["site_rss"])
                    if self.args.profile:
                        profiler = self.profile(profiler, site.pid, f"{streams}-{phase}")
                marks[phase] = mark
                if phase == "ready":
                    sampling.set()
                elif phase == "done":
                    sampling.clear()
                for proc in clients:
                    assert proc.stdin is not None
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
            for proc in clients:
                proc.wait(timeout=30)
        finally:
            stop_sampling.set()
            sampler.join(timeout=2)
            for proc in clients:
                self.stop(proc)
            self.profile(profiler, 0, "")
        return merge(mode, streams, count, marks, reports, results, peak["rss"])

    def wait_for_quiet(self, limit: float = 20) -> None:
        """Wait (at most `limit` seconds) until the machine is nearly idle: others' work skews the figures."""
        deadline = time.monotonic() + limit
        while (busy := self.psutil.cpu_percent(interval=1.0)) > 15 and time.monotonic() < deadline:
            print(f"  waiting for the machine to go quiet ({busy:.0f}% busy) ...", flush=True)

    def measure(self, streams: int, rate: int, seconds: float, ramp: float) -> dict[str, Any]:
        words = max(2, round(seconds * rate))
        delay = 1 / rate
        self.wait_for_quiet()
        print(f"  direct: {streams} streams x {words} events at {rate}/s ...", flush=True)
        direct = self.run_clients("direct", streams, words, delay, ramp)
        time.sleep(0.5)
        before = None
        if self.before_tree is not None:
            self.start_site(self.before_tree)
            self.wait_for_quiet()
            print(f"  before: {streams} streams x {words} events at {rate}/s ...", flush=True)
            before = self.run_clients("site", streams, words, delay, ramp)
            self.stop(self.site)
        self.start_site()
        self.wait_for_quiet()
        print(f"  site:   {streams} streams x {words} events at {rate}/s ...", flush=True)
        site = self.run_clients("site", streams, words, delay, ramp)
        self.stop(self.site)
        errors = scan_log(self.var / f"daphne-{self.daphne_starts}.log")
        return {
            "streams": streams, "rate": rate, "words": words, "direct": direct, "site": site, "log": errors,
            "before": before, "before_ref": self.args.before,
        }  # fmt: skip


def export_tree(ref: str, into: Path) -> Path:
    tree = into / "before-tree"
    tree.mkdir()
    git, tar = shutil.which("git") or "git", shutil.which("tar") or "tar"
    archive = subprocess.run([git, "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run([tar, "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def psutil_busy(psutil: Any) -> float:
    """CPU seconds the whole machine has been busy (all cores)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def merge(
    mode: str,
    streams: int,
    count: int,
    marks: dict[str, dict[str, Any]],
    reports: dict[str, dict[int, dict[str, Any]]],
    results: dict[int, dict[str, Any]],
    site_peak: int,
) -> dict[str, Any]:
    """One measurement's figures from its client processes' reports and the marks taken meanwhile."""
    latencies = sorted(ns * 1000 for part in results.values() for ns in part["latencies_us"])
    spans = [span for part in results.values() for span in part["spans"]]
    # Time to the first delta (seconds), and how many streams were sending at once at most.
    first = sorted(round((f - asked) * 1e9) for asked, f, _ in spans)
    edges = sorted([(f, 1) for _, f, _ in spans] + [(last, -1) for _, _, last in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    total = {
        key: sum(part[key] for part in results.values())
        for key in ("expected", "received", "lost", "gaps", "unfinished")
    }
    errors: dict[str, int] = {}
    for part in results.values():
        for name, n in part["errors"].items():
            errors[name] = errors.get(name, 0) + n
    window = marks["done"]["time"] - marks["ready"]["time"]
    client_cpu = sum(reports["done"][i]["cpu"] - reports["ready"][i]["cpu"] for i in range(count))
    fake_cpu = marks["done"]["fake_cpu"] - marks["ready"]["fake_cpu"]
    busy = marks["done"]["busy"] - marks["ready"]["busy"]
    result = {
        **total,
        "streams": streams,
        "clients": count,
        "errors": errors,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": latencies[-1] / 1e6 if latencies else None,
        "samples": len(latencies),
        "first_p50": percentile(first, 0.50),
        "first_p99": percentile(first, 0.99),
        "peak_streams": peak,
        "window": window,
        "connect_time": marks["ready"]["time"] - marks["warm"]["time"],
        "client_cpu": client_cpu,
        "client_rss_growth": sum(
            reports["done"][i]["peak"] - reports["warm"][i]["rss"] for i in range(count)
        ),
        "fake_cpu": fake_cpu,
        "busy": busy,
        "extensions": next(iter(results.values())).get("extensions", ""),
    }
    other = busy - client_cpu - fake_cpu
    if mode == "site":
        # Site CPU from before the sockets connect until every reply has ended: handshakes,
        # authentication, saving the turns, streaming and the final saves.
        result["site_cpu"] = marks["done"]["site_cpu"] - marks["warm"]["site_cpu"]
        result["site_stream_cpu"] = marks["done"]["site_cpu"] - marks["ready"]["site_cpu"]
        result["site_rss0"] = marks["warm"]["site_rss"]
        result["site_rss_ready"] = marks["ready"]["site_rss"]
        result["site_rss_peak"] = site_peak
        other -= result["site_stream_cpu"]
    result["other_cpu"] = max(0.0, other)
    return result


def scan_log(path: Path) -> int:
    text = path.read_text(errors="replace") if path.exists() else ""
    return len(re.findall(r"Traceback|\bERROR\b|Exception", text))


# ----------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------


def ms(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def diff(site: float | None, direct: float | None) -> float | None:
    return None if site is None or direct is None else site - direct


def cores(result: dict[str, Any], key: str) -> str:
    return f"{result[key] / result['window']:.2f}" if result["window"] > 0 else "–"


def rss_per_stream(site: dict[str, Any], streams: int) -> float:
    return (site["site_rss_peak"] - site["site_rss0"]) / 1024 / streams


def ratio(a: float, b: float) -> str:
    return "–" if b <= 0 else f"{a / b:.1f}×"


def per_thousand(cpu: float, events: int) -> float:
    return cpu / events * 1000 if events else 0.0


def machine() -> str:
    import psutil

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = []
    for name in ("django", "channels", "daphne", "twisted", "httpx", "httpx_sse", "uvicorn", "websockets"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions.append(f"{name} {version(name)}")
    return (
        f"{os.cpu_count()} cores ({model or platform.processor() or 'unknown CPU'}), "
        f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()} ({platform.python_implementation()}); " + ", ".join(versions)
    )


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it."""
    git = shutil.which("git")
    try:
        if git is None:
            raise OSError("no git")
        commit = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        changed = subprocess.run(
            [git, "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, changed = "", ""
    if not commit:
        return os.environ.get("BENCH_COMMIT", "unknown")
    return commit + (" with uncommitted changes" if changed else "")


def report(latency: dict[str, Any] | None, sweep: list[dict[str, Any]], command: str, seconds: float) -> str:
    out: list[str] = []
    out.append(f"Machine: {machine()}.")
    out.append("")
    out.append(f"Code: {code_version()}.")
    out.append("")
    out.append(f"Command: `{command}`")
    out.append("")
    if latency is not None:
        d, s = latency["direct"], latency["site"]
        out.append(
            f"### Added latency at {latency['rate']} events/s "
            f"({latency['streams']} streams × {latency['words']} events)"
        )
        out.append("")
        out.append("| path | events received | lost | p50 ms | p99 ms | max ms |")
        out.append("|---|--:|--:|--:|--:|--:|")
        out.append(
            f"| direct (httpx + httpx-sse) | {d['received']} | {d['lost']} | {ms(d['p50'], 3)} | "
            f"{ms(d['p99'], 3)} | {ms(d['max'], 1)} |"
        )
        out.append(
            f"| through the site (websocket) | {s['received']} | {s['lost']} | {ms(s['p50'], 3)} | "
            f"{ms(s['p99'], 3)} | {ms(s['max'], 1)} |"
        )
        out.append(
            f"| **added** (site − direct) | | | **{ms(diff(s['p50'], d['p50']), 3)}** | "
            f"**{ms(diff(s['p99'], d['p99']), 3)}** | |"
        )
        out.append("")
    if sweep:
        out.append(f"### Concurrency sweep at {SWEEP_RATE} events/s per stream (~{seconds:g} s per stream)")
        out.append("")
        out.append(
            "| streams | events/s | expected per path | lost direct | lost site | seq gaps | "
            "unfinished (d/s) | p50 direct | p99 direct | p50 site | p99 site | "
            "**p50 added** | **p99 added** |"
        )
        out.append("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for level in sweep:
            d, s = level["direct"], level["site"]
            out.append(
                f"| {level['streams']} | {level['streams'] * level['rate']} | {d['expected']} | "
                f"{d['lost']} | {s['lost']} | {s['gaps']} | {d['unfinished']}/{s['unfinished']} | "
                f"{ms(d['p50'])} | {ms(d['p99'])} | {ms(s['p50'])} | {ms(s['p99'])} | "
                f"**{ms(diff(s['p50'], d['p50']))}** | **{ms(diff(s['p99'], d['p99']))}** |"
            )
        out.append("")
        out.append(
            "Latencies in ms. *Lost*: text deltas expected but not received; *seq gaps*: "
            "`seq` numbers skipped on the websocket; *unfinished*: streams that did not end complete."
        )
        out.append("")
        out.append(
            "How much of the level was really reached: the most streams sending at the same time, "
            "the time from sending the message to its first text delta, and how long the streams "
            "took from the first start to the last end (ideally the stream length plus the ramp):"
        )
        out.append("")
        out.append(
            "| streams | at once direct | at once site | first delta p50 / p99 direct (ms) | "
            "first delta p50 / p99 site (ms) | duration direct (s) | duration site (s) |"
        )
        out.append("|--:|--:|--:|--:|--:|--:|--:|")
        for level in sweep:
            d, s = level["direct"], level["site"]
            out.append(
                f"| {level['streams']} | {d['peak_streams']} | {s['peak_streams']} | "
                f"{ms(d['first_p50'], 0)} / {ms(d['first_p99'], 0)} | "
                f"{ms(s['first_p50'], 0)} / {ms(s['first_p99'], 0)} | "
                f"{d['window']:.1f} | {s['window']:.1f} |"
            )
        out.append("")
        out.append(
            "| streams | site CPU s / 1k events | direct client CPU s / 1k events | site ÷ direct | "
            "site RSS KB / stream | direct client RSS KB / stream | site ÷ direct |"
        )
        out.append("|--:|--:|--:|--:|--:|--:|--:|")
        for level in sweep:
            d, s = level["direct"], level["site"]
            site_cpu = per_thousand(s["site_cpu"], s["received"])
            direct_cpu = per_thousand(d["client_cpu"], d["received"])
            site_rss = rss_per_stream(s, level["streams"])
            direct_rss = d["client_rss_growth"] / 1024 / level["streams"]
            out.append(
                f"| {level['streams']} | {site_cpu:.3f} | {direct_cpu:.3f} | {ratio(site_cpu, direct_cpu)} | "
                f"{site_rss:.1f} | {direct_rss:.1f} | {ratio(site_rss, direct_rss)} |"
            )
        out.append("")
        out.append(
            "Where the machine's CPU went while the streams ran, in cores (1.00 = one core busy for "
            "the whole time); *other* is everything else on the machine, which should be near 0:"
        )
        out.append("")
        out.append(
            "| streams | direct: clients | fake | other | site: Daphne | clients | fake | other | "
            "client processes |"
        )
        out.append("|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for level in sweep:
            d, s = level["direct"], level["site"]
            out.append(
                f"| {level['streams']} | {cores(d, 'client_cpu')} | {cores(d, 'fake_cpu')} | "
                f"{cores(d, 'other_cpu')} | {cores(s, 'site_stream_cpu')} | {cores(s, 'client_cpu')} | "
                f"{cores(s, 'fake_cpu')} | {cores(s, 'other_cpu')} | {d['clients']} |"
            )
        out.append("")
    compared = [level for level in ([latency] if latency else []) + sweep if level.get("before")]
    if compared:
        out.append(f"### Site CPU before ({compared[0]['before_ref']}) and after, same run")
        out.append("")
        out.append(
            "| streams × events/s | before: site CPU s / 1k events | after | after ÷ before | "
            "p50 added before / after (ms) | first delta p50 / p99 before (ms) | after | "
            "at once before / after | p99 added before / after (ms) | RSS KB / stream before / after |"
        )
        out.append("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for level in compared:
            b, s, d = level["before"], level["site"], level["direct"]
            before_cpu = per_thousand(b["site_cpu"], b["received"])
            after_cpu = per_thousand(s["site_cpu"], s["received"])
            out.append(
                f"| {level['streams']} × {level['rate']} | {before_cpu:.3f} | {after_cpu:.3f} | "
                f"{after_cpu / before_cpu:.3f} | "
                f"{ms(diff(b['p50'], d['p50']))} / {ms(diff(s['p50'], d['p50']))} | "
                f"{ms(b['first_p50'], 0)} / {ms(b['first_p99'], 0)} | "
                f"{ms(s['first_p50'], 0)} / {ms(s['first_p99'], 0)} | "
                f"{b['peak_streams']} / {s['peak_streams']} | "
                f"{ms(diff(b['p99'], d['p99']))} / {ms(diff(s['p99'], d['p99']))} | "
                f"{rss_per_stream(b, level['streams']):.1f} / {rss_per_stream(s, level['streams']):.1f} |"
            )
        out.append("")
    out.append("### Targets")
    out.append("")
    out.extend(verdicts(latency, sweep))
    problems = [
        f"{level['streams']} streams: {kind} errors {level[kind]['errors']}"
        for level in sweep + ([latency] if latency else [])
        for kind in ("direct", "site")
        if level[kind]["errors"]
    ]
    problems += [
        f"{level['streams']} streams: {level['log']} error lines in the Daphne log"
        for level in sweep + ([latency] if latency else [])
        if level["log"]
    ]
    if problems:
        out.append("")
        out.append("Problems seen: " + "; ".join(problems) + ".")
    return "\n".join(out) + "\n"


def verdicts(latency: dict[str, Any] | None, sweep: list[dict[str, Any]]) -> list[str]:
    lines = []

    def say(met: bool, text: str) -> None:
        lines.append(f"- {'met' if met else '**missed**'}: {text}")

    if latency is not None:
        d, s = latency["direct"], latency["site"]
        p50, p99 = diff(s["p50"], d["p50"]), diff(s["p99"], d["p99"])
        if p50 is not None and p99 is not None:
            say(p50 <= TARGET_ADDED_P50_MS, f"added latency p50 ≤ {TARGET_ADDED_P50_MS:g} ms ({p50:.3f} ms)")
            say(p99 <= TARGET_ADDED_P99_MS, f"added latency p99 ≤ {TARGET_ADDED_P99_MS:g} ms ({p99:.3f} ms)")
    good = []
    for level in sweep:
        d, s = level["direct"], level["site"]
        p99 = diff(s["p99"], d["p99"])
        ok = (
            p99 is not None
            and p99 <= TARGET_SWEEP_ADDED_P99_MS
            and s["lost"] == s["gaps"] == s["unfinished"] == 0
            and s["peak_streams"] >= 0.9 * level["streams"]
        )
        if ok:
            good.append(level["streams"])
    if sweep:
        best = max(good, default=0)
        untried = max(level["streams"] for level in sweep) < TARGET_STREAMS
        say(
            best >= TARGET_STREAMS,
            f"≥ {TARGET_STREAMS} streams at {SWEEP_RATE} events/s with p99 added ≤ "
            f"{TARGET_SWEEP_ADDED_P99_MS:g} ms, nothing lost, 90% of the streams running at once "
            f"(largest level that passed: {best or 'none'}"
            f"{'; no level this large was run' if untried else ''})",
        )
        worst = max(rss_per_stream(level["site"], level["streams"]) for level in sweep)
        say(
            worst <= TARGET_RSS_PER_CONNECTION_KB,
            f"≤ {TARGET_RSS_PER_CONNECTION_KB:g} KB per streaming connection (worst level: {worst:.1f} KB)",
        )
    return lines


def write_readme(table: str) -> None:
    text = README.read_text() if README.exists() else ""
    block = f"{RESULTS_START}\n{table}{RESULTS_END}"
    if RESULTS_START in text and RESULTS_END in text:
        head, rest = text.split(RESULTS_START, 1)
        text = head + block + rest.split(RESULTS_END, 1)[1]
    else:
        text = (text.rstrip() + "\n\n## Results\n\n" if text else "# Relay benchmark\n\n") + block + "\n"
    README.write_text(text)


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", help="stream counts for the sweep (default 50,100,200,300,500)")
    parser.add_argument("--seconds", type=float, help="length of each stream in the sweep (default 9)")
    parser.add_argument("--latency-streams", type=int, help="streams in the latency run (default 5)")
    parser.add_argument("--latency-seconds", type=float, help="length of a latency-run stream (default 10)")
    parser.add_argument("--quick", action="store_true", help="a small run to smoke-check (not written out)")
    parser.add_argument(
        "--client-streams", type=int, default=100, help="streams per client process (default 100)"
    )
    parser.add_argument("--no-readme", action="store_true", help="print the table only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir (logs, database)")
    parser.add_argument(
        "--profile", metavar="DIR", help="record the site with py-spy (installed separately) into DIR"
    )
    parser.add_argument(
        "--before", metavar="REF", help="also measure the site at this commit, in the same run, and compare"
    )
    parser.add_argument("--role", choices=["fake", "client"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = {"levels": "5,20", "seconds": 3, "latency_streams": 2, "latency_seconds": 3}
    if not args.quick:
        defaults = {"levels": ",".join(map(str, DEFAULT_LEVELS)), "seconds": 9, "latency_streams": 5}
        defaults["latency_seconds"] = 10
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.levels = [int(x) for x in args.levels.split(",") if x.strip()]
    return args


def orchestrate(args: argparse.Namespace, argv: list[str]) -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    command = " ".join([".venv/bin/python", "bench/relay.py", *argv])
    random.seed(0)
    bench = Bench(args)
    started = time.monotonic()
    latency: dict[str, Any] | None = None
    sweep: list[dict[str, Any]] = []
    failed: list[int] = []
    try:
        print(f"Setting up in {bench.var} ...", flush=True)
        bench.start_fake()
        # Per site measurement: one conversation per stream, one per client process to warm up.
        measured = [args.latency_streams, *args.levels]
        site_runs = 2 if args.before else 1
        bench.prepare_site(site_runs * sum(n + -(-n // args.client_streams) for n in measured))
        if args.latency_streams > 0:
            print(f"Added latency at {LATENCY_RATE} events/s:", flush=True)
            latency = bench.measure(args.latency_streams, LATENCY_RATE, args.latency_seconds, ramp=1.0)
        for streams in args.levels:
            print(f"Sweep level {streams}:", flush=True)
            try:
                sweep.append(bench.measure(streams, SWEEP_RATE, args.seconds, ramp=2.0))
            except RuntimeError as exc:  # one broken level is reported; the others still count
                print(f"  level {streams} failed: {exc}", file=sys.stderr)
                failed.append(streams)
    except KeyboardInterrupt:
        print("Interrupted; reporting what was measured.", file=sys.stderr)
    finally:
        with contextlib.suppress(OSError):
            results = {"latency": latency, "sweep": sweep}
            (bench.var / "results.json").write_text(json.dumps(results, indent=1))
        bench.close()
    table = report(latency, sweep, command, args.seconds)
    if failed:
        table += f"\nLevels that failed to run (see the output): {', '.join(map(str, failed))}.\n"
    print()
    print(table)
    print(f"Total time: {time.monotonic() - started:.0f} s")
    if not args.quick and not args.no_readme and sweep:
        write_readme(table)
        print(f"Written to {README.relative_to(ROOT)}")
    return 0


def code_heavy_reply(chars: int) -> str:
    """A reply of about `chars` characters: prose, a table and fenced Python, as agents write them."""
    block = (
        "Here is the next step, with the code that does it.\n\n"
        "| step | what | why |\n|---|---|---|\n| 1 | read | the input |\n| 2 | sum | the total |\n\n"
        "```python\n"
        "def total(rows: list[dict[str, float]]) -> float:\n"
        "    # Sum the amounts of every row that has one.\n"
        '    return sum(row.get("amount", 0.0) for row in rows if row)\n'
        "```\n\n"
    )
    return block * max(1, chars // len(block))


async def loop_stall(work: Any) -> float:
    """The longest the event loop went without running another task while `work()` ran, in ms."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0)
            gaps.append(time.perf_counter() - started)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    gaps.clear()
    await work()
    done.set()
    await ticker
    return max(gaps) * 1000


async def measure_loop_stalls(rounds: int = 5) -> str:
    """Each CPU-heavy step the way it ran before issue 12 (on the event loop) and the way it runs now."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ.setdefault("CHATSITE_LOCAL", "1")
    import base64

    import django

    django.setup()
    from agents.providers.workflow_chat import data_url, json_body
    from conversations.rendering import render_markdown

    fields = {"message": "what is on it?", "conversationId": "c", "requestId": "r"}

    def body_before(image: bytes) -> None:
        url = f"data:image/png;base64,{base64.b64encode(image).decode()}"
        body = {**fields, "images": [{"base64": url}]}
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    async def body_now(image: bytes) -> None:
        json_body(fields, [await data_url("image/png", image)])

    async def render_now(text: str) -> None:
        await asyncio.to_thread(render_markdown, text)

    steps = []
    for chars in (20_000, 200_000, 2_000_000):
        name = f"a finished reply rendered whole, {chars // 1000:,}k chars"
        steps.append((name, render_markdown, render_now, code_heavy_reply(chars)))
    for megabytes in (1, 10, 20):
        name = f"an image of {megabytes} MB into the workflow chat's JSON body"
        steps.append((name, body_before, body_now, random.randbytes(megabytes * 1024 * 1024)))

    lines = ["| step | loop stall before | loop stall now | ratio |", "|---|---:|---:|---:|"]
    for name, before_step, now_step, argument in steps:
        before, now = [], []
        for _ in range(rounds):

            async def inline(step: Any = before_step, argument: Any = argument) -> None:
                step(argument)

            async def current(step: Any = now_step, argument: Any = argument) -> None:
                await step(argument)

            before.append(await loop_stall(inline))
            now.append(await loop_stall(current))
        median_before, median_now = sorted(before)[rounds // 2], sorted(now)[rounds // 2]
        ratio = median_before / max(median_now, 0.001)
        lines.append(f"| {name} | {median_before:.1f} ms | {median_now:.1f} ms | {ratio:.1f}x |")
    return "\n".join(lines) + f"\n\nMedians of {rounds} rounds, both ways in one run; {machine()}.\n"


def main(argv: list[str]) -> int:
    if "--loop-stall" in argv:
        print(asyncio.run(measure_loop_stalls()))
        return 0
    args = parse_args(argv)
    if args.role == "fake":
        return serve_fake(args.port)
    if args.role == "client":
        config = json.loads(Path(args.config).read_text())
        return asyncio.run(client_main(config))
    return orchestrate(args, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

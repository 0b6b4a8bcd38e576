"""Peak memory of one Daphne process for large request bodies, before and after the body limits.

    .venv/bin/python bench/bodies.py --before 4d3f326    # ~1-2 minutes; prints a table

Each tree (the working tree, and with `--before REF` that commit exported by
`git archive` into a temporary directory) gets its own var dir (SQLite), the
demo data, and a Daphne started as `daphne chatsite.asgi:application` on a
free port (DEBUG off, CHATSITE_DEMO on). Then, one after the other, with the
Daphne process's RSS sampled every 20 ms (psutil):

- an anonymous 300 MB urlencoded form (`field=value&...`) POSTed to
  /accounts/login/ (`Content-Length` declared);
- the same without a length (chunked);
- a signed-in 25 MB upload to /c/<id>/attachments/ (over the 20 MB file limit);
- a signed-in 15 MB upload (a file the site takes).

Each request goes to a freshly started Daphne, so that none inherits the
memory another left behind.

It is a benchmark, not a test: it prints the figures; bench/README.md keeps them.
"""

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PeakRss:
    """Samples a process's resident memory in a thread; `.peak` is the highest seen since `start`."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.peak = 0
        self._running = False
        self._thread: threading.Thread | None = None

    def now(self) -> int:
        return self.process.memory_info().rss

    def start(self) -> "PeakRss":
        self.peak = self.now()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, self.now())
            time.sleep(0.02)

    def stop(self) -> int:
        time.sleep(0.5)  # what the process still does after answering
        self._running = False
        if self._thread is not None:
            self._thread.join()
        return self.peak


def form_fields(total: int, chunk: int = MB):
    """`total` bytes of an urlencoded form, `field=value&` over and over, in `chunk`-byte pieces."""
    piece = (b"field=value&" * (chunk // 12 + 1))[:chunk]
    sent = 0
    while sent < total:
        size = min(chunk, total - sent)
        sent += size
        yield piece[:size]


class Site:
    """The site of one source tree, served by Daphne in a subprocess."""

    def __init__(self, tree: Path, var: Path):
        self.tree = tree
        self.var = var
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(12)
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "CHATSITE_VAR_DIR": str(var),
            "STATIC_ROOT": str(var / "static"),
            "CHATSITE_DEMO": "1",
            "CHATSITE_HTTPS": "0",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
        }
        self.server: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=self.tree, env=self.env, capture_output=True, text=True
        )
        if result.returncode:
            raise RuntimeError(result.stderr)
        return result.stdout

    def prepare(self) -> None:
        self.manage("migrate", "--no-input")
        self.manage("collectstatic", "--no-input")
        self.manage("seed_demo", "--port", str(self.port), f"--password={self.password}")
        self.conversation_id = self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; from agents.models import Agent; "
            "from conversations.models import Conversation; "
            "agent = Agent.objects.get(credential__platform='sketricgen'); "
            "owner = get_user_model().objects.get(username='demo'); "
            "print(Conversation.objects.create(owner=owner, agent=agent).pk)",
        ).split()[-1]

    def start(self) -> None:
        self.server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "chatsite.asgi:application",
            ],
            cwd=self.tree,
            env=self.env,
            stdout=(self.var / "daphne.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/accounts/login/", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.server.kill()
        raise RuntimeError(f"Daphne did not start: {(self.var / 'daphne.log').read_text()}")

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.server = None

    def signed_in_client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=120)
        client.get("/accounts/login/")
        client.post(
            "/accounts/login/",
            data={"username": "demo", "password": self.password},
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
        return client


def post(client: httpx.Client, path: str, body, headers: dict[str, str]) -> str:
    try:
        return str(client.post(path, content=body, headers=headers).status_code)
    except httpx.TransportError as exc:
        return f"closed ({type(exc).__name__})"


def multipart(size: int) -> tuple[bytes, str]:
    boundary = "benchboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    return (
        head + b"a" * size + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


CASES = [
    # (what, signed in, path, size, declared length)
    ("anonymous 300 MB form POST /accounts/login/", False, "/accounts/login/", 300 * MB, True),
    ("anonymous 300 MB form POST /accounts/login/, chunked", False, "/accounts/login/", 300 * MB, False),
    ("signed-in 25 MB upload (over the limit)", True, "/c/{id}/attachments/", 25 * MB, True),
    ("signed-in 15 MB upload (taken)", True, "/c/{id}/attachments/", 15 * MB, True),
]


def measure(site: Site) -> list[tuple[str, str, int, int]]:
    """Each case on a freshly started Daphne, so that no case inherits another's memory."""
    rows = []
    for name, signed_in, path, size, declared in CASES:
        site.start()
        try:
            client = site.signed_in_client() if signed_in else httpx.Client(base_url=site.url, timeout=120)
            headers = {"Origin": site.url}
            if signed_in:
                headers["X-CSRFToken"] = client.cookies["csrftoken"]
                body, headers["Content-Type"] = multipart(size)
            else:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                body = form_fields(size)
                if declared:
                    headers["Content-Length"] = str(size)
            time.sleep(1)
            rss = PeakRss(site.server.pid)
            before = rss.start().peak
            status = post(client, path.format(id=site.conversation_id), body, headers)
            rows.append((name, status, before, rss.stop()))
            client.close()
            del body
        finally:
            site.stop()
    return rows


def export_tree(ref: str, into: Path) -> Path:
    tree = into / "tree"
    tree.mkdir()
    git, tar = shutil.which("git"), shutil.which("tar")
    archive = subprocess.run([git, "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run([tar, "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", help="a commit to measure too, e.g. the one before the limits")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="chatsite-bodies-") as tmp:
        trees = [("after", ROOT)]
        if args.before:
            trees.insert(0, (f"before ({args.before})", export_tree(args.before, Path(tmp))))
        for label, tree in trees:
            var = Path(tmp) / label.split()[0]
            var.mkdir()
            site = Site(tree, var)
            try:
                site.prepare()
                results += [(label, *row) for row in measure(site)]
            finally:
                site.stop()
    print("| tree | request | answer | RSS before | peak RSS |\n|---|---|---|---|---|")
    for label, name, status, before, peak in results:
        print(f"| {label} | {name} | {status} | {before / MB:.0f} MB | {peak / MB:.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

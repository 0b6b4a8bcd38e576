"""A real site (Daphne, demo platforms mounted) in a subprocess that a test may kill and start again.

The site keeps its port, its SQLite file (or a fresh PostgreSQL database when
`DATABASE_URL` is set) and its Redis across restarts, as a crashed process
restarted by its supervisor would.
"""

import atexit
import copy
import functools
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "chatsite@.service"
# Where deploy/ expects the checkout to be.
DEPLOYED_ROOT = "/srv/chatsite"


def unit_setting(name: str) -> str:
    """The value of `name=` in the [Service] section of deploy/chatsite@.service."""
    return next(
        line.partition("=")[2] for line in UNIT.read_text().splitlines() if line.startswith(f"{name}=")
    )


def unit_command(port: int) -> list[str]:
    """The unit's ExecStart for instance `port`, run from this checkout instead of /srv/chatsite."""
    return [
        part.replace("%i", str(port)).replace(DEPLOYED_ROOT, str(ROOT))
        for part in shlex.split(unit_setting("ExecStart"))
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_database_url(url: str, name: str) -> str:
    """The URL of database `name` next to the one in `url`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def fresh_postgres_database(url: str, name: str, template: str = "template1") -> None:
    """A new database `name` next to the one in `url`, a copy of `template` (by default, empty)."""
    drop_postgres_database(url, name)
    with psycopg_connection(url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def drop_postgres_database(url: str, name: str) -> None:
    with psycopg_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def psycopg_connection(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


@functools.cache
def migrated_database() -> str:
    """An empty database with every migration applied, made once per test process and copied for each
    site, as migrating takes seconds: the path of a SQLite file or, with `DATABASE_URL`, the name of a
    PostgreSQL database to use as a template."""
    site = SiteProcess(Path(tempfile.mkdtemp(prefix="chatsite-migrated-")), "chatsite_migrated")
    atexit.register(shutil.rmtree, site.var, ignore_errors=True)
    if os.environ.get("DATABASE_URL"):
        fresh_postgres_database(os.environ["DATABASE_URL"], site.database_name)
        atexit.register(site.remove_database)
    # Closed, so that nothing is left in SQLite's write-ahead log and PostgreSQL may copy the database.
    site.shell(
        "from django.core.management import call_command; from django.db import connection; "
        "call_command('migrate', interactive=False, verbosity=0); connection.close()"
    )
    site.close_shell()
    return site.database_name if os.environ.get("DATABASE_URL") else str(site.var / "chatsite.sqlite3")


@contextmanager
def running_site(var: Path, database_name: str, **env: str) -> Iterator["SiteProcess"]:
    """A prepared and started SiteProcess, stopped and its database dropped afterwards."""
    site = SiteProcess(var, database_name, **env)
    try:
        site.prepare()
        site.start()
        yield site
    finally:
        site.stop()
        site.close_shell()
        site.remove_database()


class SiteProcess:
    """The demo site in one Daphne process, signed in as `username` with `password`.

    With `DATABASE_URL` set, the site gets a database of its own, named after
    `database_name` and this test run, so that two runs on one machine never
    share (or drop) it; `remove_database` drops it at the end.
    """

    username = "demo"

    def __init__(self, var: Path, database_name: str, **env: str):
        self.var = var
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(12)
        self.log = var / "daphne.log"
        self.server: subprocess.Popen | None = None
        self.django_shell: subprocess.Popen | None = None
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CHATSITE_LOCAL"}},
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "CHATSITE_VAR_DIR": str(var),
            "STATIC_ROOT": str(var / "static"),
            "CHATSITE_DEMO": "1",
            "CHATSITE_HTTPS": "0",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",  # Daphne's access log reaches daphne.log line by line
        }
        self.database_name = f"{database_name}_{os.getpid()}"
        self.env["CHATSITE_REDIS_PREFIX"] = f"chatsite-{self.database_name}"
        self.env.update(env)
        if os.environ.get("DATABASE_URL"):
            self.env["DATABASE_URL"] = postgres_database_url(os.environ["DATABASE_URL"], self.database_name)

    def another_process(self, var: Path) -> "SiteProcess":
        """A second Daphne process of the same site: its own port and log, the same database, keys and Redis.

        Prepare only the first; stop each; remove the database once.
        """
        other = copy.copy(self)
        other.var, other.port, other.server, other.django_shell = var, free_port(), None, None
        other.url, other.log = f"http://127.0.0.1:{other.port}", var / "daphne.log"
        return other

    def prepare(self) -> None:
        """Copy in the migrated empty database, collect static files and seed the demo user and agents."""
        template = migrated_database()
        if os.environ.get("DATABASE_URL"):
            fresh_postgres_database(os.environ["DATABASE_URL"], self.database_name, template=template)
        else:
            self.var.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template, self.var / "chatsite.sqlite3")
        self.shell(
            "import io; from django.core.management import call_command; "
            "call_command('collectstatic', interactive=False, verbosity=0); "
            f"call_command('seed_demo', port={str(self.port)!r}, password={self.password!r}, "
            "stdout=io.StringIO())"
        )

    def start(self) -> None:
        """Start Daphne as deploy/chatsite@.service does, and wait until it serves pages."""
        with self.log.open("a") as log:
            self.server = subprocess.Popen(
                unit_command(self.port),
                cwd=unit_setting("WorkingDirectory").replace(DEPLOYED_ROOT, str(ROOT)),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                # Any answer will do: behind a proxy (ALLOWED_HOSTS without 127.0.0.1) it is a 400.
                httpx.get(f"{self.url}/accounts/login/", timeout=1)
                return
            except httpx.TransportError:
                pass
            if self.server.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the site did not start: {self.log.read_text()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """`kill -9`: the process gets no chance to save anything."""
        assert self.server is not None
        os.kill(self.server.pid, signal.SIGKILL)
        self.server.wait(timeout=10)

    @contextmanager
    def stalled(self) -> Iterator[None]:
        """The process stopped (SIGSTOP) for the block: alive, holding its sockets, doing nothing."""
        assert self.server is not None
        os.kill(self.server.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.server.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(timeout=10)

    def remove_database(self) -> None:
        if os.environ.get("DATABASE_URL"):
            drop_postgres_database(os.environ["DATABASE_URL"], self.database_name)

    def signed_in_client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=60)
        deadline = time.monotonic() + 30
        while "csrftoken" not in client.cookies:  # a busy or just restarted site may answer without it
            page = client.get("/accounts/login/")
            if "csrftoken" not in client.cookies:
                assert time.monotonic() < deadline, f"no CSRF cookie at sign-in: {page.status_code}"
                time.sleep(0.2)
        client.post(
            "/accounts/login/",
            data={"username": self.username, "password": self.password},
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
        return client

    def session_cookie(self) -> str:
        client = self.signed_in_client()
        client.close()
        return client.cookies["sessionid"]

    def new_conversation(self, platform: str = "sketricgen") -> str:
        return self.shell(
            "from django.contrib.auth import get_user_model; from agents.models import Agent; "
            "from conversations.models import Conversation; "
            f"agent = Agent.objects.get(credential__platform={platform!r}); "
            f"owner = get_user_model().objects.get(username={self.username!r}); "
            "print(json.dumps(str(Conversation.objects.create(owner=owner, agent=agent).pk)))"
        )

    def replies(self) -> list[dict]:
        """Every assistant message in the database: id, status, content, error."""
        return self.shell(
            "from conversations.models import Message; "
            "print(json.dumps(list(Message.objects.filter(role='assistant').order_by('pk')"
            ".values('id', 'status', 'content', 'error'))))"
        )

    def age_streaming_replies(self, seconds: float) -> int:
        """Move the last save of every `streaming` reply `seconds` into the past; how many.

        Stands in for the wait after a crash (REPLY_ALIVE_SECONDS, 90 s by default) before a reply
        whose row nobody touches counts as abandoned.
        """
        return self.shell(
            "from datetime import timedelta; from django.db.models import F; "
            "from conversations.models import Message; "
            "print(Message.objects.filter(status='streaming')"
            f".update(updated_at=F('updated_at') - timedelta(seconds={float(seconds)})))"
        )

    def shell(self, code: str):
        """Run `code` against the site's database, as `manage.py shell -c` would; its last line of
        output, as JSON (None without output).

        The code runs in one Python process per site that sets Django up once (DJANGO_SHELL), not a
        fresh `manage.py` each time: tests poll with it.
        """
        if self.django_shell is None or self.django_shell.poll() is not None:
            self.django_shell = subprocess.Popen(
                [sys.executable, "-c", DJANGO_SHELL],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        assert self.django_shell.stdin is not None and self.django_shell.stdout is not None
        try:
            self.django_shell.stdin.write(json.dumps(f"import json; {code}") + "\n")
            self.django_shell.stdin.flush()
            answer = json.loads(self.django_shell.stdout.readline() or '{"error": "the shell exited"}')
        except BaseException:  # a timeout, say: its answer would come as the next call's
            self.django_shell.kill()
            self.django_shell.wait()
            self.django_shell = None
            raise
        assert "error" not in answer, answer["error"]
        lines = answer["output"].splitlines()
        return json.loads(lines[-1]) if lines else None

    def close_shell(self) -> None:
        if self.django_shell is not None:
            self.django_shell.stdin.close()
            self.django_shell.wait(timeout=10)
            self.django_shell = None


# Reads code as JSON lines on stdin and answers each with its output or its traceback.
DJANGO_SHELL = """
import contextlib, io, json, sys, traceback
import django
django.setup()
for line in sys.stdin:
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            exec(json.loads(line), {})
        answer = {"output": output.getvalue()}
    except Exception:
        answer = {"error": traceback.format_exc() + output.getvalue()}
    print(json.dumps(answer), flush=True)
"""

"""Two Daphne processes of one site behind nginx (deploy/nginx.conf), on PostgreSQL and Redis.

A reply runs in the process that started it (A); tabs whose websocket nginx
gave to the other process (B) watch it through Redis. Each tab here is a
websocket opened through nginx, as a browser's would be; which process got
it is read from the processes' access logs, and a tab meant for the other
one is closed and opened again (nginx takes turns).

Skipped, with the reason, without PostgreSQL and Redis (`DATABASE_URL`,
`REDIS_URL`) unless CHATSITE_REQUIRE_SERVICES is set, as in CI's second pass,
or without nginx unless CHATSITE_REQUIRE_NGINX is set. The processes are
shared by the module's tests; the last ones stop A.
"""

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.site_process import SiteProcess, running_site
from tests.test_nginx_config import NGINX, SITE_NAME, Nginx, signed_in_client, tls_context

SERVICES = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
if not SERVICES and os.environ.get("CHATSITE_REQUIRE_SERVICES"):
    raise RuntimeError("CHATSITE_REQUIRE_SERVICES is set but DATABASE_URL or REDIS_URL is not.")
pytestmark = [
    pytest.mark.skipif(NGINX is None, reason="no nginx (apt-get install nginx)"),
    pytest.mark.skipif(
        not SERVICES, reason="several processes need PostgreSQL and Redis (DATABASE_URL, REDIS_URL)"
    ),
]

# A dead process's reply counts as abandoned after ALIVE_SECONDS untouched; every process sweeps every
# SWEEP_SECONDS (90 s and 30 s by default).
ALIVE_SECONDS = 5
SWEEP_SECONDS = 1
# How long a stopping process lets its running replies finish (30 s by default).
GRACE_SECONDS = 6
WAIT_SECONDS = 30


@dataclass
class Deployment:
    a: SiteProcess
    b: SiteProcess
    nginx: Nginx
    fakes: dict
    session: str = ""
    opened: list[ClientConnection] = field(default_factory=list)

    def sockets_opened(self, process: SiteProcess) -> int:
        return process.log.read_text().count('"WSCONNECT /ws/')

    def open_tab(self, on: SiteProcess, path: str) -> ClientConnection:
        """A websocket to `path` through nginx that `on` serves.

        After a restart nginx may send everything to the other process for a while (`fail_timeout`).
        """
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            before = {p.port: self.sockets_opened(p) for p in (self.a, self.b)}
            ws = self.connect(path)
            deadline = time.monotonic() + 10
            while (served := [p for p in (self.a, self.b) if self.sockets_opened(p) > before[p.port]]) == []:
                assert time.monotonic() < deadline, "no process logged the websocket"
                time.sleep(0.05)
            if served == [on]:
                self.opened.append(ws)
                return ws
            ws.close()
            time.sleep(0.2)
        raise AssertionError(f"nginx never gave a websocket to {on.url}")

    def connect(self, path: str) -> ClientConnection:
        raw = socket.create_connection(("127.0.0.1", self.nginx.https_port))
        return connect(
            f"wss://{SITE_NAME}{path}",
            sock=raw,
            ssl=tls_context(),
            server_hostname=SITE_NAME,
            origin=f"https://{SITE_NAME}",
            additional_headers={"Cookie": f"sessionid={self.session}"},
            legacy=True,  # closed by close_tabs
        )

    def close_tabs(self) -> None:
        while self.opened:
            self.opened.pop().close()

    def restart_stopped_processes(self) -> None:
        for process in (self.a, self.b):
            if process.server is None or process.server.poll() is not None:
                process.start()


def use_fakes_outside_the_site(site: SiteProcess, fakes: dict) -> None:
    """Point the demo agents at fake platforms served by the test, which outlive a killed process.

    The demo's own fakes are mounted in the first process (seed_demo).
    """
    urls = {platform: served.url for platform, served in fakes.items()}
    site.shell(
        "from agents.models import Credential\n"
        f"urls, site = {urls!r}, {site.url!r}\n"
        "for c in Credential.objects.all():\n"
        "    old, new = f'{site}/fake/{c.platform}', urls[c.platform]\n"
        "    c.base_url = c.base_url.replace(old, new)\n"
        "    c.options = {k: v.replace(old, new) for k, v in c.options.items()}\n"
        "    c.save()\n"
        "print(Credential.objects.count())"
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, served_fakes) -> Iterator[Deployment]:
    with running_site(
        tmp_path_factory.mktemp("a"),
        "chatsite_two_processes",
        ALLOWED_HOSTS=SITE_NAME,
        CSRF_TRUSTED_ORIGINS=f"https://{SITE_NAME}",
        CHATSITE_HTTPS="1",
        REPLY_CHECKPOINT_SECONDS="0.5",
        REPLY_ALIVE_SECONDS=str(ALIVE_SECONDS),
        REPLY_SWEEP_SECONDS=str(SWEEP_SECONDS),
        REPLY_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
    ) as a:
        use_fakes_outside_the_site(a, served_fakes)
        b = a.another_process(tmp_path_factory.mktemp("b"))
        nginx = Nginx(tmp_path_factory.mktemp("nginx"), [a.port, b.port], Path(a.env["STATIC_ROOT"]))
        try:
            b.start()
            nginx.start()
            deployment = Deployment(a, b, nginx, served_fakes)
            with signed_in_client(a, nginx) as client:
                deployment.session = client.cookies["sessionid"]
            yield deployment
        finally:
            if getattr(nginx, "process", None) is not None:
                nginx.stop()
            b.stop()


@pytest.fixture
def site(deployment) -> Iterator[Deployment]:
    deployment.restart_stopped_processes()
    yield deployment
    deployment.close_tabs()


@dataclass
class Page:
    """What a chat page makes of the frames of one reply (static/chatsite/thread.js).

    Events are numbered (`seq`); a page ignores those it has seen, a snapshot
    replaces what it shows. A gap is an event after one the page never got.
    """

    seen: int = -1
    text: str = ""
    frames: list[dict] = field(default_factory=list)
    gaps: list[int] = field(default_factory=list)
    ended: dict | None = None

    def take(self, frame: dict) -> None:
        self.frames.append(frame)
        kind, seq = frame["type"], frame.get("seq")
        if kind == "reply.ended":
            self.ended = frame
        elif kind in ("reply.started", "reply.snapshot"):
            if seq > self.seen:
                self.seen, self.text = seq, frame.get("text", "")
        elif seq is not None:
            if seq == self.seen + 1:
                self.seen = seq
                self.text += frame.get("text", "") if kind == "text_delta" else ""
            elif seq > self.seen + 1:
                self.gaps.append(seq)

    def deltas(self) -> list[int]:
        return [f["seq"] for f in self.frames if f["type"] == "text_delta"]

    def read(self, ws: ClientConnection, until: str = "reply.ended", seconds: float = WAIT_SECONDS) -> None:
        """Take frames from `ws` until one of type `until`."""
        deadline = time.monotonic() + seconds
        while True:
            frame = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            self.take(frame)
            if frame["type"] == until:
                return


def send(ws: ClientConnection, text: str) -> None:
    ws.send(json.dumps({"type": "send", "text": text, "client_id": "c1"}))


def saved_reply(site: Deployment) -> dict:
    return site.a.replies()[-1]


def live_share_token(site: Deployment, conversation_id: str) -> str:
    return site.a.shell(
        "from conversations.models import Conversation, ShareLink; "
        f"c = Conversation.objects.get(pk={conversation_id!r}); "
        "print(json.dumps(ShareLink.objects.create(conversation=c, created_by=c.owner, live=True).token))"
    )


@contextmanager
def running_reply(site: Deployment, conversation_id: str, text: str) -> Iterator[Page]:
    """A tab on A that sent `text`, once A streams the reply to it."""
    tab = site.open_tab(site.a, f"/ws/conversations/{conversation_id}/")
    send(tab, text)
    page = Page()
    page.read(tab, until="text_delta")
    yield page
    page.read(tab)


def test_a_reply_on_a_streams_to_tabs_on_b_open_before_it_and_opened_during_it_and_to_a_share_viewer(
    site,
):
    conversation_id = site.a.new_conversation()
    token = live_share_token(site, conversation_id)
    tab_before = site.open_tab(site.b, f"/ws/conversations/{conversation_id}/")
    viewer = site.open_tab(site.b, f"/ws/share/{token}/")

    with running_reply(site, conversation_id, "Tell me [[words=80]] [[delay=0.04]]") as on_a:
        tab_during = site.open_tab(site.b, f"/ws/conversations/{conversation_id}/")
    saved = saved_reply(site)
    assert saved["status"] == "complete"
    assert on_a.text == saved["content"]

    pages = {}
    for name, ws in (("before", tab_before), ("viewer", viewer), ("during", tab_during)):
        pages[name] = page = Page()
        page.read(ws)
        assert page.gaps == [], name
        assert page.text == saved["content"], name
        assert len(page.deltas()) == len(set(page.deltas())), f"{name}: a delta came twice"
        assert page.ended["status"] == "complete", name
        assert page.ended["seq"] == on_a.ended["seq"], name
    for name in ("before", "viewer"):
        types = [f["type"] for f in pages[name].frames]
        assert types[:2] == ["user_message", "reply.started"], (name, types[:5])
        assert pages[name].frames[0]["message"]["text"] == "Tell me [[words=80]] [[delay=0.04]]"
        # Every delta, one by one; or, when the first ones were relayed before B started watching
        # the reply on A, a snapshot that holds them, then the rest one by one.
        snapshots = [f["seq"] for f in pages[name].frames if f["type"] == "reply.snapshot"]
        first = snapshots[0] + 1 if snapshots else 1
        after_snapshot = [seq for seq in pages[name].deltas() if seq >= first]
        assert after_snapshot == list(range(first, on_a.ended["seq"])), name
        assert len(snapshots) <= 1, name
    assert pages["during"].frames[0]["type"] == "reply.snapshot"


def test_a_version_chosen_through_either_process_shows_in_tabs_and_a_share_viewer_on_both(site):
    conversation_id = site.a.new_conversation()
    chat = f"/ws/conversations/{conversation_id}/"
    with running_reply(site, conversation_id, "Say hello [[words=3]]") as first:
        pass
    tab_a = site.open_tab(site.a, chat)
    tab_a.send(json.dumps({"type": "regenerate", "message_id": first.ended["message_id"], "client_id": "r"}))
    second = Page()
    second.read(tab_a)
    tab_b = site.open_tab(site.b, chat)
    viewer = site.open_tab(site.b, f"/ws/share/{live_share_token(site, conversation_id)}/")

    # nginx gives the request to either process; the tabs and the viewer on both are told.
    with signed_in_client(site.a, site.nginx) as client:
        chosen = client.post(
            f"/c/{conversation_id}/messages/{first.ended['message_id']}/choose/",
            headers={"X-CSRFToken": client.cookies["csrftoken"], "Accept": "application/json"},
        )
    assert chosen.status_code == 200, chosen.text
    for name, ws in (("tab on A", tab_a), ("tab on B", tab_b), ("viewer on B", viewer)):
        page = Page()
        page.read(ws, until="version.chosen")
        told = page.frames[-1]
        assert (told["message_id"], told["replaces"]) == (
            first.ended["message_id"],
            second.ended["message_id"],
        ), name


def test_stop_from_a_tab_on_b_stops_the_reply_running_on_a(site):
    conversation_id = site.a.new_conversation()
    tab_b = site.open_tab(site.b, f"/ws/conversations/{conversation_id}/")
    with running_reply(site, conversation_id, "Go on forever [[fail:hang]]") as on_a:
        on_b = Page()
        on_b.read(tab_b, until="text_delta")
        tab_b.send(json.dumps({"type": "stop"}))
        on_b.read(tab_b)
    assert on_a.ended["status"] == on_b.ended["status"] == "stopped"
    assert saved_reply(site)["status"] == "stopped"


def test_a_tab_on_b_that_reconnects_mid_reply_with_its_last_seq_misses_nothing_and_gets_nothing_twice(site):
    conversation_id = site.a.new_conversation()
    path = f"/ws/conversations/{conversation_id}/"
    tab_b = site.open_tab(site.b, path)
    with running_reply(site, conversation_id, "Tell me [[words=100]] [[delay=0.04]]") as on_a:
        page = Page()
        while page.seen < 10:
            page.read(tab_b, until="text_delta")
        tab_b.close()
        time.sleep(0.5)  # the reply goes on meanwhile
        tab_b = site.open_tab(site.b, path)
        reply_id = next(f["message_id"] for f in page.frames if f["type"] == "reply.started")
        tab_b.send(json.dumps({"type": "resume", "message_id": reply_id, "after_seq": page.seen}))
        page.read(tab_b)
    saved = saved_reply(site)
    assert saved["status"] == "complete"
    assert page.gaps == []
    assert page.text == saved["content"] == on_a.text
    assert len(page.deltas()) == len(set(page.deltas())), "a delta came twice"


def test_kill_9_of_a_mid_reply_ends_it_interrupted_on_b_within_bounded_time(site):
    conversation_id = site.a.new_conversation()
    tab_b = site.open_tab(site.b, f"/ws/conversations/{conversation_id}/")
    tab_a = site.open_tab(site.a, f"/ws/conversations/{conversation_id}/")
    send(tab_a, "Talk at length [[words=400]] [[delay=0.05]]")
    page = Page()
    while len(page.text) < 300:
        page.read(tab_b, until="text_delta")
    time.sleep(1)  # past a checkpoint (every 0.5 s)
    site.a.kill()
    killed_at = time.monotonic()
    page.read(tab_b, seconds=ALIVE_SECONDS + 2 * SWEEP_SECONDS + WAIT_SECONDS)
    took = time.monotonic() - killed_at
    saved = site.b.replies()[-1]
    assert saved["status"] == page.ended["status"] == "interrupted"
    assert page.ended["error"] == saved["error"] == "The reply was cut off when the site restarted."
    assert page.ended["text"] == saved["content"]
    assert not page.gaps, page.gaps
    # The last checkpoint may hold words A had not yet passed on, or B may have seen words after it;
    # either way the page ends showing the saved text (`reply.ended`), and the two agree up to there.
    shown, kept = page.text, saved["content"]
    assert kept and (shown.startswith(kept) or kept.startswith(shown))
    assert took <= ALIVE_SECONDS + 2 * SWEEP_SECONDS + 5, took


def test_a_workflow_chat_reply_whose_process_was_killed_is_taken_over_by_b_and_finishes_whole(site):
    """B's sweep finds the dead process's reply and replays it from the platform (`lastEventIndex`)."""
    conversation_id = site.a.new_conversation("workflow_chat")
    tab_b = site.open_tab(site.b, f"/ws/conversations/{conversation_id}/")
    tab_a = site.open_tab(site.a, f"/ws/conversations/{conversation_id}/")
    send(tab_a, "Plan my week [[words=300]] [[delay=0.03]]")
    page = Page()
    while len(page.text) < 400:
        page.read(tab_b, until="text_delta")
    time.sleep(1)  # past a checkpoint (every 0.5 s)
    site.a.kill()
    page.read(tab_b, seconds=ALIVE_SECONDS + 2 * SWEEP_SECONDS + WAIT_SECONDS)

    request_id = site.b.shell(
        "from conversations.models import Message; "
        f"print(json.dumps(Message.objects.get(pk={page.ended['message_id']}).upstream_run_id))"
    )
    session = site.fakes["workflow_chat"].app.sessions[request_id]
    whole = "".join(event["data"] for event in session.events if event["type"] == "chunk")
    saved = site.b.replies()[-1]
    assert page.ended["status"] == saved["status"] == "complete"
    assert page.gaps == []
    assert page.text == saved["content"] == whole
    [replay] = [
        r["body"]
        for r in site.fakes["workflow_chat"].app.requests
        if r["body"] and r["body"].get("requestId") == request_id and "lastEventIndex" in r["body"]
    ]
    assert replay["lastEventIndex"] > 0 and "message" not in replay


def frames_within(ws: ClientConnection, seconds: float) -> list[dict]:
    """Every frame `ws` receives in the next `seconds`."""
    frames, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frames.append(json.loads(ws.recv(timeout=left)))
        except TimeoutError:
            break
    return frames


def news_of(reply_id: int, frames: list[dict], ending: dict) -> list[dict]:
    """The frames about reply `reply_id` other than its `ending` again (a sweep may tell a page twice)."""
    return [f for f in frames if f.get("message_id") == reply_id and f != ending]


def resumed_after_resync(ws: ClientConnection, page: Page, reply_id: int) -> None:
    """Read `ws` as a page does (static/chatsite/socket.js): on `resync`, resume from the last seq seen."""
    deadline = time.monotonic() + WAIT_SECONDS
    while page.ended is None:
        frame = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if frame["type"] == "resync":
            ws.send(json.dumps({"type": "resume", "message_id": reply_id, "after_seq": page.seen}))
        else:
            page.take(frame)


def saved_row(site: Deployment, reply_id: int) -> dict:
    return site.b.shell(
        "from conversations.models import Message; "
        f"print(json.dumps(Message.objects.filter(pk={reply_id}).values("
        "'status', 'content', 'seq', 'error', 'relay_channel', 'finished_at').get(), default=str))"
    )


def test_a_reply_interrupted_by_b_while_a_was_stalled_is_neither_sent_on_nor_saved_over_when_a_wakes(site):
    """SIGSTOP of A mid-reply: B's sweep finds the row untouched and interrupts it; A, woken, lets go."""
    conversation_id = site.a.new_conversation()
    tab_b = site.open_tab(site.b, f"/ws/conversations/{conversation_id}/")
    tab_a = site.open_tab(site.a, f"/ws/conversations/{conversation_id}/")
    send(tab_a, "Talk at length [[words=400]] [[delay=0.03]]")  # 12 s: A has more to read when it wakes
    on_b, on_a = Page(), Page()
    while len(on_b.text) < 200:
        on_b.read(tab_b, until="text_delta")
    reply_id = next(f["message_id"] for f in on_b.frames if f["type"] == "reply.started")
    with site.a.stalled():
        stalled_at = time.monotonic()
        on_b.read(tab_b, seconds=ALIVE_SECONDS + 2 * SWEEP_SECONDS + WAIT_SECONDS)
        assert time.monotonic() - stalled_at <= ALIVE_SECONDS + 2 * SWEEP_SECONDS + 5
        interrupted = saved_row(site, reply_id)
    assert on_b.ended["status"] == interrupted["status"] == "interrupted"

    later = frames_within(tab_b, 5)
    assert news_of(reply_id, later, on_b.ended) == [], "A went on sending the reply"
    assert saved_row(site, reply_id) == interrupted, "A saved over the interrupted reply"
    resumed_after_resync(tab_a, on_a, reply_id)
    assert on_a.ended["status"] == "interrupted"
    assert on_a.ended["text"] == interrupted["content"] == on_b.ended["text"]


def test_a_workflow_reply_taken_over_by_b_while_a_was_stalled_ends_once_and_whole_when_a_wakes(site):
    """SIGSTOP of A mid-reply: B takes the reply over and finishes it; A, woken, sends and saves nothing."""
    conversation_id = site.a.new_conversation("workflow_chat")
    tab_b = site.open_tab(site.b, f"/ws/conversations/{conversation_id}/")
    tab_a = site.open_tab(site.a, f"/ws/conversations/{conversation_id}/")
    send(tab_a, "Plan my week [[words=300]] [[delay=0.03]]")
    on_b, on_a = Page(), Page()
    while len(on_b.text) < 300:
        on_b.read(tab_b, until="text_delta")
    reply_id = next(f["message_id"] for f in on_b.frames if f["type"] == "reply.started")
    with site.a.stalled():
        on_b.read(tab_b, seconds=ALIVE_SECONDS + 2 * SWEEP_SECONDS + WAIT_SECONDS)
        finished = saved_row(site, reply_id)
    assert on_b.ended["status"] == finished["status"] == "complete"
    assert finished["relay_channel"] != "" and on_b.gaps == []

    later = frames_within(tab_b, 5)
    assert news_of(reply_id, later, on_b.ended) == [], "A went on sending the reply"
    request_id = site.b.shell(
        "from conversations.models import Message; "
        f"print(json.dumps(Message.objects.get(pk={reply_id}).upstream_run_id))"
    )
    session = site.fakes["workflow_chat"].app.sessions[request_id]
    whole = "".join(event["data"] for event in session.events if event["type"] == "chunk")
    assert saved_row(site, reply_id) == finished, "A saved over B's reply"
    assert on_b.text == finished["content"] == whole
    resumed_after_resync(tab_a, on_a, reply_id)
    assert on_a.ended["status"] == "complete" and on_a.ended["text"] == whole


def test_sigterm_of_a_takes_no_new_turn_lets_a_running_reply_finish_and_interrupts_one_past_the_grace(site):
    short_id, long_id, new_id = (site.a.new_conversation() for _ in range(3))
    watching_short = site.open_tab(site.b, f"/ws/conversations/{short_id}/")
    watching_long = site.open_tab(site.b, f"/ws/conversations/{long_id}/")
    sender = site.open_tab(site.a, f"/ws/conversations/{short_id}/")
    send(sender, "Tell me [[words=80]] [[delay=0.05]]")  # 4 s, within the grace
    Page().read(sender, until="text_delta")
    long_sender = site.open_tab(site.a, f"/ws/conversations/{long_id}/")
    send(long_sender, "Go on forever [[fail:hang]]")
    Page().read(long_sender, until="text_delta")

    site.a.server.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            sender.recv(timeout=10)
    assert closed.value.rcvd.code == 4503  # restarting: the page reconnects
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", site.a.port), timeout=5)

    reconnected = site.connect(f"/ws/conversations/{new_id}/")  # nginx has only B left
    site.opened.append(reconnected)
    send(reconnected, "Anyone there? [[words=10]]")
    answered = Page()
    answered.read(reconnected)
    assert answered.ended["status"] == "complete"

    short = Page()
    short.read(watching_short)
    assert short.ended["status"] == "complete"
    assert short.gaps == []
    assert short.text == short.ended["text"]
    long = Page()
    long.read(watching_long, seconds=GRACE_SECONDS + WAIT_SECONDS)
    assert long.ended["status"] == "interrupted"
    assert long.ended["text"] and long.text.startswith(long.ended["text"])
    assert time.monotonic() - signalled >= GRACE_SECONDS - 1
    site.a.server.wait(timeout=WAIT_SECONDS)
    statuses = {r["id"]: r["status"] for r in site.b.replies()}
    assert statuses[short.ended["message_id"]] == "complete"
    assert statuses[long.ended["message_id"]] == "interrupted"

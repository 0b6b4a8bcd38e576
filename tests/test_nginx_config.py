"""deploy/nginx.conf as shipped: Debian's nginx accepts it, and in front of a real Daphne it does its job.

The config is filled in as the README's deployment section says (the Daphne
port, a certificate, the static files' folder; here also listening ports a test
may bind) and run under a temporary prefix by the test's own user. Skipped
where nginx is not installed (`apt-get install nginx`) unless
CHATSITE_REQUIRE_NGINX is set, as CI does.
"""

import contextlib
import datetime
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.sync.client import connect

from tests.site_process import ROOT, SiteProcess, free_port, running_site

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(path)), None
)
SITE_NAME = "chat.example.com"
MB = 1024 * 1024

if NGINX is None and os.environ.get("CHATSITE_REQUIRE_NGINX"):
    raise RuntimeError("CHATSITE_REQUIRE_NGINX is set but nginx is missing (apt-get install nginx)")
pytestmark = pytest.mark.skipif(NGINX is None, reason="no nginx (apt-get install nginx)")


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SITE_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SITE_NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def filled_in(text: str, replacements: list[tuple[str, str]]) -> str:
    """`text` with each pattern replaced; a pattern that no longer matches fails the test."""
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count, f"deploy/nginx.conf no longer has {pattern!r} to fill in"
    return text


class Nginx:
    """deploy/nginx.conf under a temporary prefix, in front of the Daphne processes on `daphne_ports`.

    `static_root`: the site's STATIC_ROOT, after collectstatic.
    """

    def __init__(self, prefix: Path, daphne_ports: list[int], static_root: Path):
        self.prefix = prefix
        self.http_port, self.https_port = free_port(), free_port()
        cert, key = self_signed_certificate(prefix)
        site_config = filled_in(
            (ROOT / "deploy" / "nginx.conf").read_text(),
            [
                (
                    r"^(\s*)server 127\.0\.0\.1:8001;\n\s*server 127\.0\.0\.1:8002;",
                    "\n".join(rf"\1server 127.0.0.1:{port};" for port in daphne_ports),
                ),
                (r"^\s*listen \[::\]:(80|443)\b.*\n", ""),  # IPv6 may be missing where tests run
                (r"listen 80;", f"listen 127.0.0.1:{self.http_port};"),
                (r"listen 443 ", f"listen 127.0.0.1:{self.https_port} "),
                (r"/etc/letsencrypt/live/chat\.example\.com/fullchain\.pem", str(cert)),
                (r"/etc/letsencrypt/live/chat\.example\.com/privkey\.pem", str(key)),
                (r"/srv/chatsite/staticfiles/", f"{static_root}/"),
            ],
        )
        (prefix / "chatsite.conf").write_text(site_config)
        temp = {name: prefix / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
        self.error_log = prefix / "error.log"
        self.config = prefix / "nginx.conf"
        # The main file Debian's /etc/nginx/nginx.conf would be, with every path under the prefix; one
        # process, in the foreground, as the test's user.
        self.config.write_text(
            f"daemon off;\nmaster_process off;\npid {prefix}/nginx.pid;\nerror_log {self.error_log} info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {prefix}/access.log;\n"
            + "".join(f"    {name}_temp_path {path};\n" for name, path in temp.items())
            + f"    include {prefix}/chatsite.conf;\n"
            "}\n"
        )

    def command(self, *args: str) -> list[str]:
        return [NGINX, "-p", str(self.prefix), "-c", str(self.config), "-e", str(self.error_log), *args]

    def start(self) -> None:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nginx did not start: {self.error_log.read_text()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def test_nginx_accepts_the_deploy_config(tmp_path):
    nginx = Nginx(tmp_path, daphne_ports=[free_port(), free_port()], static_root=tmp_path)
    result = subprocess.run(nginx.command("-t"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    warnings = [
        line
        for line in result.stderr.splitlines()
        if "[warn]" in line and 'the "listen ... http2" directive is deprecated' not in line
    ]
    assert not warnings, result.stderr


@pytest.fixture(scope="module")
def proxied_site(tmp_path_factory):
    """Daphne behind nginx, set as the README's deployment section says (HTTPS, the site's name)."""
    with running_site(
        tmp_path_factory.mktemp("daphne"),
        "chatsite_nginx",
        ALLOWED_HOSTS=SITE_NAME,
        CSRF_TRUSTED_ORIGINS=f"https://{SITE_NAME}",
        CHATSITE_HTTPS="1",
    ) as site:
        nginx = Nginx(tmp_path_factory.mktemp("nginx"), [site.port], Path(site.env["STATIC_ROOT"]))
        nginx.start()
        try:
            yield site, nginx
        finally:
            nginx.stop()


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def post_body(port: int, path: str, size: int) -> bytes:
    """POST `size` bytes over TLS in 1 MB pieces, stopping if the proxy closes; its answer."""
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        tls_context().wrap_socket(raw, server_hostname=SITE_NAME) as sock,
    ):
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {SITE_NAME}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {size}\r\n\r\n".encode()
        )
        sent, piece = 0, b"0" * MB
        try:
            while sent < size:
                sock.sendall(piece)
                sent += len(piece)
        except OSError:  # refused: nginx closed the connection
            pass
        sock.settimeout(10)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
        return answer


def test_a_25_mb_body_to_a_route_other_than_uploads_is_refused_by_nginx(proxied_site):
    _, nginx = proxied_site
    answer = post_body(nginx.https_port, "/accounts/login/", 25 * MB)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    # nginx's own error page: a 413 of Daphne's (chatsite/daphne_limits.py) would pass through with its body.
    assert b"<center>nginx" in answer, answer[:300]


@contextlib.contextmanager
def signed_in_client(site: SiteProcess, nginx: Nginx) -> Iterator[httpx.Client]:
    """A client signed in through nginx, as a browser at https://chat.example.com would be."""
    with httpx.Client(
        base_url=f"https://127.0.0.1:{nginx.https_port}",
        headers={"Host": SITE_NAME, "Origin": f"https://{SITE_NAME}"},
        verify=tls_context(),
        timeout=30,
    ) as client:
        assert client.get("/accounts/login/").status_code == 200
        signed_in = client.post(
            "/accounts/login/",
            data={"username": site.username, "password": site.password},
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
        assert signed_in.status_code == 302, signed_in.text
        yield client


def test_an_upload_within_the_upload_limit_passes_nginx_and_a_larger_one_does_not(proxied_site):
    site, nginx = proxied_site
    conversation_id = site.new_conversation()
    with signed_in_client(site, nginx) as client:
        headers = {"X-CSRFToken": client.cookies["csrftoken"]}
        stored = client.post(
            f"/c/{conversation_id}/attachments/",
            files={"file": ("notes.txt", b"a" * (15 * MB), "text/plain")},
            headers=headers,
        )
        assert stored.status_code == 201, stored.text
        assert stored.json()["size"] == 15 * MB
    answer = post_body(nginx.https_port, f"/c/{conversation_id}/attachments/", 25 * MB)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"<center>nginx" in answer, answer[:300]


def test_static_files_come_from_static_root_and_plain_http_is_sent_to_https(proxied_site):
    site, nginx = proxied_site
    css = next((Path(site.env["STATIC_ROOT"]) / "chatsite").glob("app.*.css"))
    with httpx.Client(verify=tls_context(), headers={"Host": SITE_NAME}) as client:
        served = client.get(f"https://127.0.0.1:{nginx.https_port}/static/chatsite/{css.name}")
        assert served.status_code == 200
        assert served.content == css.read_bytes()
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        plain = client.get(f"http://127.0.0.1:{nginx.http_port}/accounts/login/?next=/")
        assert plain.status_code == 301
        assert plain.headers["Location"] == f"https://{SITE_NAME}/accounts/login/?next=/"


def test_chat_works_over_a_websocket_through_nginx(proxied_site):
    site, nginx = proxied_site
    with signed_in_client(site, nginx) as client:
        cookie = client.cookies["sessionid"]
    conversation_id = site.new_conversation()
    with (
        socket.create_connection(("127.0.0.1", nginx.https_port)) as raw,
        connect(
            f"wss://{SITE_NAME}/ws/conversations/{conversation_id}/",
            sock=raw,
            ssl=tls_context(),
            server_hostname=SITE_NAME,
            origin=f"https://{SITE_NAME}",
            additional_headers={"Cookie": f"sessionid={cookie}"},
        ) as ws,
    ):
        ws.send(
            json.dumps({"type": "send", "text": "Hello through the proxy [[words=40]]", "client_id": "c1"})
        )
        frames = []
        while not frames or frames[-1]["type"] != "reply.ended":
            frames.append(json.loads(ws.recv(timeout=20)))
    types = [f["type"] for f in frames]
    assert types[:2] == ["user_message", "reply.started"], types
    assert "text_delta" in types
    assert frames[-1]["status"] == "complete"
    assert "This is a simulated SketricGen agent" in frames[-1]["text"]

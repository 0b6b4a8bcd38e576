import asyncio
import io
import os
import threading
from urllib.parse import parse_qs

os.environ.setdefault("CHATSITE_LOCAL", "1")

import pytest

from tests.fakes import FakePlatform, ServedApp


@pytest.fixture
def fake_platform(served_fakes):
    """`fake_platform(name)`: the shared fake of platform `name` (served_fakes) with its defaults
    restored, again after the test: `.url` is its base URL, `.app` the fake.

    Its tokens come without the demo's pause between them; a test that needs a
    reply to be running for a while asks for one (`[[delay=...]]`).
    """
    used = []

    def restored(name: str) -> FakePlatform:
        served = served_fakes[name]
        served.app.reset()
        served.app.token_delay = 0
        used.append(served.app)
        return FakePlatform(served)

    yield restored
    for app in used:
        app.reset()


@pytest.fixture
def sketricgen(fake_platform):
    """The SketricGen fake, as fake_platform gives it."""
    return fake_platform("sketricgen")


@pytest.fixture
def sketricgen_sdk(sketricgen):
    """The official SketricGen SDK pointed at the fake (chat, admin API and uploads), with no delays."""
    from sketricgen import SketricGenClient

    sketricgen.app.token_delay = 0
    client = SketricGenClient(api_key="demo-key")
    client._config.base_url = sketricgen.url
    client._config.upload_init_endpoint = sketricgen.url + "/publicAssetsUploadInit"
    client._config.upload_complete_endpoint = sketricgen.url + "/publicAssetsUploadComplete"
    client._admin._base_url = sketricgen.url + "/admin/v1"
    return client


# Groups whose tests start site processes, the longest work of the suite: handed out first, then
# the browser modules, so that the other workers take the many short modules meanwhile and no worker
# is left with a long one at the end.
LONG_GROUPS_FIRST = (
    "tests/test_two_processes.py",
    "tests/test_daphne_limits.py",
    "tests/test_killed_process.py",
    "tests/test_nginx_config.py",
    "tests/test_settings.py",
)


def group_of(nodeid: str) -> str:
    """The group a test runs in under `--dist loadgroup`: its module (module fixtures, some of them a
    site process, start once). The browser tests' site and Chromium start once per worker."""
    return nodeid.split("::")[0]


def next_group(groups) -> str | None:
    """Which of the groups still to hand out goes next, when one should jump the queue."""
    for group in LONG_GROUPS_FIRST:
        if group in groups:
            return group
    return next((group for group in groups if group.startswith("tests/browser/")), None)


def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(GroupScheduler(), "chatsite-group-scheduler")


class GroupScheduler:
    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config, log):
        """`--dist loadgroup` by group_of, long groups first.

        pytest-xdist's own loadgroup reads groups from `xdist_group` marks by rewriting node ids, which
        pytest 9.2 no longer lets it do: every test became its own group, and a module's site process
        started once on each worker.
        """
        if config.getvalue("dist") != "loadgroup":
            return None
        from xdist.scheduler import LoadScopeScheduling

        class LoadGroupScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return group_of(nodeid)

            def _assign_work_unit(self, node) -> None:
                group = next_group(self.workqueue)
                if group is not None:
                    self.workqueue.move_to_end(group, last=False)
                super()._assign_work_unit(node)

        return LoadGroupScheduling(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Each test but the browser tests runs with no event loop marked as running in this thread.

    While the browser tests' Chromium is open (a session fixture), Playwright's
    sync API marks its own loop as running between its calls; a test that
    follows on the same worker would then find a loop running, and async tests
    and the ORM refuse to run. The mark is put back for Playwright afterwards.
    """
    if item.get_closest_marker("browser"):
        return (yield)
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        return (yield)
    finally:
        asyncio._set_running_loop(loop)


@pytest.fixture(autouse=True)
def test_client_settings(settings):
    """The test client speaks plain HTTP and renders templates without collectstatic.

    The HTTPS-only settings themselves are checked in test_settings.py.
    """
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def sketricgen_credential(sketricgen, db):
    """A credential for the SketricGen fake, holding the key it accepts."""
    from agents.models import Credential, Platform

    credential = Credential(platform=Platform.SKETRICGEN, name="SketricGen team", base_url=sketricgen.url)
    credential.options = {"admin_base_url": f"{sketricgen.url}/admin/v1"}
    credential.set_api_key("demo-key")
    credential.save()
    return credential


@pytest.fixture(scope="session")
def oidc_provider():
    """A real OpenID Connect provider (oidc-provider-mock) on localhost: `.url` is its issuer.

    `.requests` records the path and form of each request it receives, to check what the site sent.
    """
    from oidc_provider_mock import app as provider_app
    from werkzeug.serving import make_server

    requests: list[tuple[str, dict[str, str]]] = []
    wsgi = provider_app(require_nonce=True)

    def recording(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        fields = parse_qs(environ.get("QUERY_STRING", "")) | parse_qs(body.decode("latin-1"))
        requests.append((environ["PATH_INFO"], {name: values[-1] for name, values in fields.items()}))
        return wsgi(environ, start_response)

    server = make_server("localhost", 0, recording, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    server.url = f"http://localhost:{server.server_port}"
    server.requests = requests
    yield server
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="session")
def served_fakes():
    """Every fake platform (agents.fakes.FAKES) over HTTP: name -> ServedApp."""
    from agents.fakes import FAKES

    servers = {name: ServedApp(app).start() for name, app in FAKES.items()}
    yield servers
    for server in servers.values():
        server.stop()

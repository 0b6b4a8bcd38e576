"""How `--dist loadgroup` shares the suite between workers (tests/conftest.py).

A module's tests share module fixtures, some of them a site process; the
browser tests share one site and one Chromium. Split between workers, each
worker would start its own.
"""

from types import SimpleNamespace

from xdist.remote import Producer

COLLECTION = [
    "tests/test_origins.py::test_a",
    "tests/browser/test_chat.py::test_b",
    "tests/test_origins.py::test_c[x@y]",
    "tests/browser/test_sharing.py::test_d",
    "tests/accounts/test_login.py::test_e",
    "tests/test_daphne_limits.py::test_f",
    "tests/test_daphne_limits.py::test_g",
    "tests/accounts/test_login.py::Login::test_h",
]


class Worker:
    def __init__(self, name: str):
        self.name = name
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[str] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += [COLLECTION[i] for i in indices]

    def shutdown(self) -> None:
        self.shutting_down = True


def test_a_modules_tests_and_all_browser_tests_each_go_to_one_worker_the_long_groups_first(
    pytestconfig, monkeypatch
):
    monkeypatch.setattr(pytestconfig.option, "dist", "loadgroup")
    monkeypatch.setattr(pytestconfig.option, "numprocesses", 2)
    monkeypatch.setattr(pytestconfig.option, "tx", ["2*popen"])
    scheduler = pytestconfig.hook.pytest_xdist_make_scheduler(config=pytestconfig, log=Producer("test"))
    workers = [Worker("gw0"), Worker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, COLLECTION)
    scheduler.schedule()  # with this few tests, every group is handed out at once
    first, second = workers
    assert first.sent[:2] == ["tests/browser/test_chat.py::test_b", "tests/browser/test_sharing.py::test_d"]
    assert second.sent[:2] == ["tests/test_daphne_limits.py::test_f", "tests/test_daphne_limits.py::test_g"]
    modules = {}
    for worker in workers:
        for nodeid in worker.sent:
            modules.setdefault(nodeid.split("::")[0], set()).add(worker.name)
    assert all(len(names) == 1 for names in modules.values()), modules
    assert sorted(first.sent + second.sent) == sorted(COLLECTION)

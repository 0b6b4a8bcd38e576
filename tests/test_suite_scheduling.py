"""How `--dist loadgroup` shares the suite between workers (tests/conftest.py).

A module's tests share module fixtures, some of them a site process: split
between workers, each worker would start its own. The browser tests' site and
Chromium start once per worker that runs any.
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
        self.indices: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.indices += indices
        self.sent += [COLLECTION[i] for i in indices]

    def shutdown(self) -> None:
        self.shutting_down = True


def test_a_modules_tests_go_to_one_worker_the_long_modules_then_the_browser_modules_first(
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
    scheduler.schedule()
    first, second = workers
    for index in list(first.indices):  # the first worker finishes its tests and gets the group left
        scheduler.mark_test_complete(first, index)
    assert first.sent[:2] == ["tests/test_daphne_limits.py::test_f", "tests/test_daphne_limits.py::test_g"]
    # then the browser modules, one to each worker, before the short modules
    assert second.sent[0] == "tests/browser/test_chat.py::test_b"
    assert first.sent[2] == "tests/browser/test_sharing.py::test_d"
    modules = {}
    for worker in workers:
        for nodeid in worker.sent:
            modules.setdefault(nodeid.split("::")[0], set()).add(worker.name)
    assert all(len(names) == 1 for names in modules.values()), modules
    assert sorted(first.sent + second.sent) == sorted(COLLECTION)

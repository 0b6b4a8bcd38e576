import os

os.environ.setdefault("CHATSITE_LOCAL", "1")

import pytest

from tests.fakes import FakePlatform, ServedApp


@pytest.fixture(scope="session")
def sketricgen_server():
    """The shared SketricGen fake (agents.fakes.FAKES) served over HTTP for the whole session."""
    from agents.fakes import FAKES

    with ServedApp(FAKES["sketricgen"]) as served:
        yield served


@pytest.fixture
def sketricgen(sketricgen_server):
    """The SketricGen fake with its defaults restored: `.url` is its base URL, `.app` the fake."""
    sketricgen_server.app.reset()
    yield FakePlatform(sketricgen_server)
    sketricgen_server.app.reset()

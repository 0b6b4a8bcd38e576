"""Settings for the test run: the site's own, with a password hasher fast enough for fixtures.

PBKDF2 at Django's default iterations costs about half a second per user on
this machine; every persona and browser login would pay it.
"""

import os

os.environ.setdefault("CHATSITE_LOCAL", "1")
# Each pytest-xdist worker has its own test database, so conversation ids (and the
# layer's groups named after them) repeat between workers: each gets its own prefix.
os.environ.setdefault(
    "CHATSITE_REDIS_PREFIX", "chatsite-test-" + os.environ.get("PYTEST_XDIST_WORKER", "main")
)

from chatsite.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
UPSTREAM_RETRY_BASE_DELAY = 0.01
# The fake platforms run on 127.0.0.1; tests of the address guard turn this off.
UPSTREAM_ALLOW_LOOPBACK = True

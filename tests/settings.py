"""Settings for the test run: the site's own, with a password hasher fast enough for fixtures.

PBKDF2 at Django's default iterations costs about half a second per user on
this machine; every persona and browser login would pay it.
"""

import os

os.environ.setdefault("CHATSITE_LOCAL", "1")

from chatsite.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
UPSTREAM_RETRY_BASE_DELAY = 0.01
# The fake platforms run on 127.0.0.1; tests of the address guard turn this off.
UPSTREAM_ALLOW_LOOPBACK = True

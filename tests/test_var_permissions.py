"""`var/` (the SQLite database, the generated secret key, attached files) is private to the site's user."""

import os
import stat
from contextlib import contextmanager

from tests.test_settings import run_django

WRITE_ALL = (
    "from django.core.files.base import ContentFile; from django.core.files.storage import default_storage; "
    "from django.db import connection; "
    "cursor = connection.cursor(); cursor.execute('create table t (x integer)'); "
    "cursor.execute('insert into t values (1)'); "
    "print(default_storage.save('attachments/c1/a1', ContentFile(b'private words')))"
)


@contextmanager
def umask(value: int):
    """The site's process is started with a permissive umask (it inherits this one)."""
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_secret_key_and_media_are_private_whatever_the_umask(tmp_path):
    var = tmp_path / "var"
    with umask(0o002):
        result = run_django(WRITE_ALL, CHATSITE_VAR_DIR=str(var), CHATSITE_LOCAL="1")
    assert result.returncode == 0, result.stderr

    assert mode(var) == 0o700
    assert mode(var / "secret_key") == 0o600
    for name in ("chatsite.sqlite3", "chatsite.sqlite3-wal", "chatsite.sqlite3-shm"):
        if (var / name).exists():
            assert mode(var / name) == 0o600, name
    assert (var / "chatsite.sqlite3").stat().st_size > 0
    assert mode(var / "media") == 0o700
    assert mode(var / "media" / "attachments" / "c1") == 0o700
    assert mode(var / "media" / "attachments" / "c1" / "a1") == 0o600


def test_an_existing_world_readable_database_is_made_private(tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    (var / "chatsite.sqlite3").touch()
    (var / "chatsite.sqlite3").chmod(0o644)
    with umask(0o002):
        result = run_django("pass", CHATSITE_VAR_DIR=str(var), CHATSITE_LOCAL="1")
    assert result.returncode == 0, result.stderr
    assert mode(var) == 0o700
    assert mode(var / "chatsite.sqlite3") == 0o600

"""Settings read from the environment, and the production checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CHATSITE_LOCAL", "DEBUG"}
    }
    return subprocess.run(
        [sys.executable, "-c", f"import django, os; django.setup(); {code}"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_secret_key_is_required_when_debug_is_off(tmp_path):
    result = run_django("pass", CHATSITE_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_local_runs_keep_one_generated_secret_key(tmp_path):
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = run_django(code, CHATSITE_VAR_DIR=str(tmp_path), DEBUG="1")
    second = run_django(code, CHATSITE_VAR_DIR=str(tmp_path), DEBUG="1")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert len(first.stdout.strip()) >= 50
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


def test_the_embedded_default_is_sqlite_in_wal_mode_and_the_in_memory_layer(tmp_path):
    code = (
        "from django.conf import settings; from django.db import connection; "
        "print(settings.CHANNEL_LAYERS['default']['BACKEND']); "
        "cursor = connection.cursor(); cursor.execute('PRAGMA journal_mode'); print(cursor.fetchone()[0])"
    )
    result = run_django(code, CHATSITE_VAR_DIR=str(tmp_path), DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["channels.layers.InMemoryChannelLayer", "wal"]


def test_urls_choose_postgresql_and_redis(tmp_path):
    code = (
        "from django.conf import settings; print(settings.DATABASES['default']['ENGINE']); "
        "print(settings.CHANNEL_LAYERS['default']['BACKEND'])"
    )
    result = run_django(
        code,
        CHATSITE_VAR_DIR=str(tmp_path),
        DEBUG="1",
        DATABASE_URL="postgres://u@127.0.0.1:5432/x",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "chatsite.channel_layer.WaitingRedisChannelLayer",
    ]


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        "SECRET_KEY": "p" * 20 + "Q9-z" * 10,
        "ALLOWED_HOSTS": "chat.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
        "CHATSITE_VAR_DIR": str(tmp_path),
    }
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "CHATSITE_LOCAL"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_daphne_is_new_enough_for_its_security_fixes():
    from importlib.metadata import version

    major, minor, patch = (int(part) for part in version("daphne").split(".")[:3])
    assert (major, minor, patch) >= (4, 2, 2)


def test_no_wildcard_host_by_default():
    assert "*" not in settings.ALLOWED_HOSTS


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client):
    response = client.get("/accounts/login/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "img-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_attachments_go_to_local_disk_or_to_a_named_s3_bucket(tmp_path):
    local = run_django(
        "from django.core.files.storage import default_storage as s; "
        "s._setup(); print(type(s._wrapped).__name__)",
        CHATSITE_VAR_DIR=str(tmp_path),
        DEBUG="1",
    )
    assert local.returncode == 0, local.stderr
    assert local.stdout.split() == ["FileSystemStorage"]
    s3 = run_django(
        "from django.core.files.storage import default_storage as s; s._setup(); w = s._wrapped; "
        "print(type(w).__name__, w.bucket_name, w.endpoint_url, w.location, w.default_acl)",
        CHATSITE_VAR_DIR=str(tmp_path),
        DEBUG="1",
        CHATSITE_S3_BUCKET="team-files",
        CHATSITE_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        CHATSITE_S3_ACCESS_KEY_ID="id",
        CHATSITE_S3_SECRET_ACCESS_KEY="secret",
    )
    assert s3.returncode == 0, s3.stderr
    assert s3.stdout.split() == ["S3Storage", "team-files", "http://127.0.0.1:9000", "chatsite", "private"]


@pytest.mark.parametrize("hosts", ["*", "chat.example.com,*"])
def test_a_wildcard_host_is_refused_when_debug_is_off(tmp_path, hosts):
    result = run_django("pass", CHATSITE_VAR_DIR=str(tmp_path), SECRET_KEY="s" * 50, ALLOWED_HOSTS=hosts)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must name the site's hosts when DEBUG is off" in result.stderr


def test_check_deploy_fails_with_a_wildcard_host(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "CHATSITE_LOCAL"}}
    env = {"SECRET_KEY": "p" * 20 + "Q9-z" * 10, "ALLOWED_HOSTS": "*", "CHATSITE_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_a_wildcard_host_is_allowed_for_local_debugging(tmp_path):
    result = run_django("pass", CHATSITE_VAR_DIR=str(tmp_path), DEBUG="1", ALLOWED_HOSTS="*")
    assert result.returncode == 0, result.stderr

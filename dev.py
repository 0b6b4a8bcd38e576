#!/usr/bin/env python3
"""Run chatsite locally with nothing but Python 3.11+.

    python3 dev.py serve   make .venv, install, migrate, seed the demo, serve on 127.0.0.1:8000
    python3 dev.py test    make .venv, install the test extras, lint, run the whole test suite

Both can be run again at any time: installs happen only when a requirements
file changed.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def run(*args: str | Path, env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT, env=env)


def ensure_venv(requirements: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py is run by whatever python3 a newcomer has
        sys.exit(f"chatsite needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    files = [ROOT / "requirements.txt", ROOT / requirements]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    marker = VENV / f".installed-{requirements}"
    if marker.exists() and marker.read_text() == digest:
        return
    print(f"Installing {requirements} ...", flush=True)
    if run(PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements):
        sys.exit("pip install failed; see above.")
    marker.write_text(digest)


def local_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CHATSITE_LOCAL", "1")
    env.update(extra)
    return env


def serve(port: str = "8000") -> int:
    ensure_venv("requirements.txt")
    env = local_env(DEBUG=os.environ.get("DEBUG", "1"), CHATSITE_DEMO="1")
    manage = [PYTHON, "manage.py"]
    if run(*manage, "migrate", "--no-input", env=env):
        return 1
    if run(*manage, "seed_demo", "--port", port, env=env):
        return 1
    print(f"\nchatsite is running at http://127.0.0.1:{port}/  (Ctrl+C stops it)\n", flush=True)
    return run(BIN / "daphne", "-b", "127.0.0.1", "-p", port, "chatsite.asgi:application", env=env)


# Four pytest-xdist workers, each test module on one of them (tests/conftest.py): much of the
# suite waits on sockets, processes and Chromium, so four share even a 2-core machine well (on
# 2 cores: 3.6 minutes against 5.1 with two). `-n 0` runs in one process.
TEST_WORKERS = ["-n", "4", "--dist", "loadgroup"]


def test(*pytest_args: str) -> int:
    ensure_venv("requirements-dev.txt")
    env = local_env()
    lint = run(BIN / "ruff", "check", ".", env=env)
    tests = run(PYTHON, "-m", "pytest", *TEST_WORKERS, *pytest_args, env=env)
    if lint:
        print("ruff check found problems (see above).")
    return tests or lint


def main() -> int:
    command, *rest = sys.argv[1:] or ["help"]
    if command == "serve":
        return serve(*rest[:1])
    if command == "test":
        return test(*rest)
    print(__doc__)
    return 0 if command == "help" else 2


if __name__ == "__main__":
    sys.exit(main())

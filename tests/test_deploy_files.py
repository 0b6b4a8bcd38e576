"""deploy/ as the README's deployment section uses it: the systemd unit, settings file and nginx.conf agree.

Every test site runs the unit's ExecStart (tests/site_process.py); two of them
run behind deploy/nginx.conf in tests/test_two_processes.py.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.site_process import DEPLOYED_ROOT, ROOT, UNIT, unit_setting

ENV_EXAMPLE = ROOT / "deploy" / "chatsite.env.example"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
README = ROOT / "README.md"


def env_example() -> dict[str, str]:
    """The variables of deploy/chatsite.env.example, read as systemd's EnvironmentFile= reads them."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            found[name.strip()] = value.strip()
    return found


def deployment_section() -> str:
    text = README.read_text()
    return text[text.index("## Deployment\n") : text.index("\n## ", text.index("## Deployment\n") + 1)]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit_without_a_warning(tmp_path):
    unit = (
        UNIT.read_text()
        .replace(DEPLOYED_ROOT, str(ROOT))
        .replace("/etc/chatsite/chatsite.env", str(ENV_EXAMPLE))
        .replace("User=chatsite", "User=root")
        .replace("Group=chatsite", "Group=root")
    )
    (tmp_path / UNIT.name).write_text(unit)
    result = subprocess.run(
        [shutil.which("systemd-analyze"), "verify", str(tmp_path / "chatsite@8001.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_every_variable_of_the_settings_example_is_one_the_site_reads_and_the_readme_lists():
    settings = (ROOT / "chatsite" / "settings.py").read_text()
    readme = README.read_text()
    variables = env_example()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "STATIC_ROOT"} <= variables.keys()
    for name in variables:
        read = rf"(env_\w+|os\.environ\.get)\(\"{name}\""
        assert re.search(read, settings), f"{name} is not read by chatsite/settings.py"
        assert f"`{name}`" in readme, f"{name} is not in the README's Configuration table"


def test_the_unit_waits_longer_than_the_grace_period_and_nginx_serves_the_static_root_of_the_example():
    grace = float(env_example()["REPLY_SHUTDOWN_GRACE_SECONDS"])
    assert float(unit_setting("TimeoutStopSec")) > grace
    assert unit_setting("KillSignal") == "SIGTERM"
    static_root = env_example()["STATIC_ROOT"]
    assert re.search(rf"alias {re.escape(static_root)}/;", NGINX_CONF.read_text())
    assert unit_setting("ReadWritePaths") == env_example()["CHATSITE_VAR_DIR"]


def test_the_readme_starts_one_unit_instance_per_port_of_the_nginx_upstream():
    section = deployment_section()
    upstream = re.search(r"upstream chatsite \{(.*?)\}", NGINX_CONF.read_text(), re.S).group(1)
    ports = re.findall(r"server 127\.0\.0\.1:(\d+);", upstream)
    started = re.search(r"systemctl enable --now ((?:chatsite@\d+ ?)+)", section).group(1).split()
    assert started == [f"chatsite@{port}" for port in ports]
    for path in ("deploy/chatsite@.service", "deploy/chatsite.env.example", "deploy/nginx.conf"):
        assert path in section
    assert f"EnvironmentFile={Path('/etc/chatsite/chatsite.env')}" in UNIT.read_text()
    assert "/etc/chatsite/chatsite.env" in section

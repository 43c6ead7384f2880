"""Build the production image from our Dockerfile and run it the way Fly does.

Neither a container engine nor a container registry is reachable from the
development machines, so:
- buildah builds the Dockerfile with chroot isolation (no daemon needed);
- the Dockerfile's base image (python:3.11-slim-bookworm, on Docker Hub) is
  swapped for a stand-in with the same Debian release and Python minor
  version, made by debootstrap from Debian's mirror and cached locally.
Everything after the FROM line is our Dockerfile as `fly deploy` builds it,
with our .dockerignore deciding the build context.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import psutil

from tests.support import ROOT, ServerProcess

# The stand-in imitates exactly this base; a new FROM line means a new stand-in.
DOCKERFILE_BASE = "python:3.11-slim-bookworm"
STAND_IN_BASE = "localhost/memorygate-test-base:bookworm-python3.11"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
IMAGE = "localhost/memorygate:test"


def buildah(*args: str, timeout: float = 600) -> str:
    done = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(args[:2])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout.strip()


def ensure_stand_in_base() -> str:
    if subprocess.run(["buildah", "inspect", "--type", "image", STAND_IN_BASE], capture_output=True).returncode == 0:
        return STAND_IN_BASE
    container = buildah("from", "scratch")
    try:
        root = Path(buildah("mount", container))
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-pip,ca-certificates",
                "bookworm",
                root,
                DEBIAN_MIRROR,
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
        _make_it_behave_like_python_slim(root)
        buildah("umount", container)
        buildah(
            "config",
            "--env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env",
            "LANG=C.UTF-8",
            "--cmd",
            "python3",
            container,
        )
        buildah("commit", "--rm", container, STAND_IN_BASE)
    except BaseException:
        subprocess.run(["buildah", "rm", container], capture_output=True)
        raise
    return STAND_IN_BASE


def _make_it_behave_like_python_slim(root: Path) -> None:
    """python:3.11-slim-bookworm has `python` and `pip` commands, and its interpreter
    (in /usr/local) takes `pip install` without an externally-managed marker."""
    (root / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
    python = root / "usr/bin/python"
    if not python.exists():
        python.symlink_to("python3")
    # This workplace reaches PyPI through a TLS-inspecting proxy whose CA is
    # only in the host's bundle; Fly's builders reach PyPI directly.
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")


def build_image() -> dict:
    """Build the Dockerfile; return the image's OCI config (Cmd, User, ...)."""
    base = ensure_stand_in_base()
    buildah(
        "build",
        "--isolation=chroot",
        "--network=host",
        "--layers",
        f"--from={base}",
        "-t",
        IMAGE,
        str(ROOT),
        timeout=1200,
    )
    return json.loads(buildah("inspect", "--type", "image", IMAGE))["OCIv1"]["config"]


def build_context(directory: Path) -> set[str]:
    """The files a builder receives from directory (its .dockerignore applied)."""
    containerfile = directory.parent / "Containerfile.context"
    containerfile.write_text(f"FROM {ensure_stand_in_base()}\nCOPY . /context\n")
    image = "localhost/memorygate-context:test"
    buildah("build", "--isolation=chroot", "-f", str(containerfile), "-t", image, str(directory))
    container = buildah("from", image)
    try:
        copied = Path(buildah("mount", container)) / "context"
        return {str(path.relative_to(copied)) for path in copied.rglob("*") if path.is_file()}
    finally:
        buildah("rm", container)
        buildah("rmi", image)


def run_in_image(argv: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    """One command in a fresh container of the image, as Fly runs the release command."""
    container = buildah("from", IMAGE)
    try:
        return subprocess.run(_run_argv(container, env, argv), capture_output=True, text=True, timeout=timeout)
    finally:
        buildah("rm", container)


def _run_argv(container: str, env: dict[str, str], argv: list[str]) -> list[str]:
    """`buildah run`: the image's user, working directory and Env, plus env."""
    env_flags = [f"--env={name}={value}" for name, value in env.items()]
    return ["buildah", "run", "--isolation=chroot", *env_flags, container, "--", *argv]


class ImageServer(ServerProcess):
    """The image's own command in a container, on the host's network."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        super().__init__(env)
        self.image_command = command
        self.container = buildah("from", IMAGE)

    def _argv(self) -> list[str]:
        return _run_argv(self.container, self.env, self.image_command)

    def _popen_env(self) -> dict[str, str]:
        return dict(os.environ)

    def app_process(self) -> psutil.Process:
        """The server itself (buildah does not forward signals; Fly's init
        signals the command directly, and so do we)."""
        program, *arguments = self.image_command
        for candidate in psutil.Process(self.process.pid).children(recursive=True):
            found_program, *found_arguments = candidate.cmdline()
            # Inside the chroot the program appears by its resolved path.
            if found_arguments == arguments and found_program.rsplit("/", 1)[-1] == program:
                return candidate
        raise LookupError(f"{self.image_command} is not running:\n{self.log}")

    def _close(self) -> None:
        super()._close()
        buildah("rm", self.container)

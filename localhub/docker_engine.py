"""The connection to the Docker engine: found like the docker CLI finds it (DOCKER_HOST honoured),
checked for a usable API version, and every failure turned into one sentence that names the fix."""

from __future__ import annotations

import os

import docker
import docker.errors
import requests.exceptions

from .errors import LocalhubError

MIN_API_VERSION = (1, 41)


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


class EngineUnreachable(LocalhubError):
    pass


def connect(timeout: int = 30) -> docker.DockerClient:
    """A Docker client for the engine, after a successful ping."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as err:
        raise EngineUnreachable(unreachable_reason(err)) from None
    return client


def unreachable_reason(err: BaseException) -> str:
    """Why the engine did not answer, in one sentence that names the fix."""
    if "Permission denied" in str(err) or isinstance(err, PermissionError):
        return (f"The Docker engine at {engine_address()} runs, but this user may not use it: add yourself to the "
                "docker group (`sudo usermod -aG docker $USER`, then log in again) or run localhub as root.")
    return (f"Docker engine not reachable at {engine_address()} — is Docker running? Start it "
            "(`sudo systemctl start docker`), or install Debian's docker.io (the repository's "
            "scripts/setup-docker.sh does both).")


def api_version_ok(version: str) -> bool:
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= MIN_API_VERSION


def describe(client: docker.DockerClient) -> dict:
    """Engine facts for `doctor`, `status` and the TUI's hub page."""
    version = client.version()
    info = client.info()
    return {
        "address": engine_address(),
        "version": version.get("Version", "?"),
        "api_version": version.get("ApiVersion", "?"),
        "api_ok": api_version_ok(version.get("ApiVersion", "0.0")),
        "os": info.get("OperatingSystem", "?"),
        "cgroup_version": info.get("CgroupVersion", "?"),
        "storage_driver": info.get("Driver", "?"),
        "cpus": info.get("NCPU"),
        "memory": info.get("MemTotal"),
    }


def hub_containers(client: docker.DockerClient, instance: str, all: bool = True) -> list:
    """The containers of one hub (its servers and their helpers, such as storage meters). One removed while
    the list is being read (a meter ends every few seconds) is left out instead of failing the whole list."""
    return client.containers.list(all=all, filters={"label": f"localhub.instance={instance}"}, ignore_removed=True)


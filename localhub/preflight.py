"""What is checked before a daemon starts, each failure one sentence: the engine's API, the hub's database
against the homes it would forget, a JupyterHub left by a daemon that died, and the ports of the block."""

from __future__ import annotations

import errno
import socket

from . import docker_engine
from .config import Settings
from .errors import LocalhubError
from .lifecycle import read_pid, runs_in, stop_leftover
from .profiles import load_profiles
from .recovery import check_database, homes
from .state import StateDir


def port_problem(ip: str, port: int) -> str | None:
    """Why this process cannot listen on ip:port (words that follow "Port N"), None when it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return "is already in use by another program"
            if err.errno == errno.EACCES:
                return "is a privileged port (below 1024), which only root may open"
            if err.errno == errno.EADDRNOTAVAIL:
                return f"cannot be opened on {ip}: that is not an address of this machine"
            return f"cannot be opened on {ip} ({err.strerror})"
    return None


def port_in_use(ip: str, port: int) -> bool:
    return port_problem(ip, port) is not None


def preflight(settings: Settings) -> tuple[StateDir, "docker_engine.docker.DockerClient"]:
    """Everything that can be checked before starting; each failure is one sentence."""
    state = StateDir(settings.state_dir)
    state.prepare()
    load_profiles(settings.config_dir)  # a bad profile file is skipped, with a warning naming file and field
    client = docker_engine.connect()
    facts = docker_engine.describe(client)
    if not facts["api_ok"]:
        raise LocalhubError(
            f"The Docker engine at {facts['address']} speaks API {facts['api_version']}; localhub needs "
            f"{'.'.join(map(str, docker_engine.MIN_API_VERSION))} or newer (Docker 20.10+). Upgrade Docker."
        )
    # a damaged database would start a blank hub that has forgotten every server: refuse, naming the way out
    check_database(state.database, homes(client, settings.instance))
    stop_leftover(state.hub_pid_file, state, wait=20)  # its servers keep running (cleanup_servers is off)
    # JupyterHub stops a proxy it left behind and takes its ports
    check_ports(settings, orphan_proxy=runs_in(read_pid(state.proxy_pid_file), state.root))
    return state, client


def check_ports(settings: Settings, orphan_proxy: bool, problem_of=port_problem) -> None:
    """Refuse, in one sentence, a port of the block that cannot be had (another program holds it, it is privileged)
    — the hub's and the proxy's own are expected taken while a proxy of this hub's is left over: JupyterHub
    replaces it."""
    ports = ((settings.ip, settings.port, "the hub"), ("127.0.0.1", settings.port + 1, "the proxy's API"),
             ("127.0.0.1", settings.port + 2, "localhub's API"))
    for ip, port, what in ports:
        if orphan_proxy and port in (settings.port, settings.port + 1):
            continue
        problem = problem_of(ip, port)
        if problem:
            raise LocalhubError(f"Port {port} (for {what}) {problem}; choose another with --port "
                                "(localhub uses --port to --port+3).")

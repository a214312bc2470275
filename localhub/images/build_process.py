"""The repo2docker process of one build, from the daemon's side (build_child.py is the process's own): the
command line that starts it (our repo2docker config, the `localhub` engine, the image's fixed user), its output
read as lines however long, each line of its JSON log parsed, and its whole process group signalled (SIGINT
to cancel, SIGKILL STOP_GRACE seconds later).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

REPO2DOCKER_CONFIG = Path(__file__).with_name("repo2docker_config.py")
USER_ID = 1000
USER_NAME = "jovyan"
STOP_GRACE = 10.0  # seconds between SIGINT and SIGKILL when cancelling


def repo2docker_command(job, target: str, labels: dict[str, str], engine: str) -> list[str]:
    """The child's command line for `job` (a builder._Job: its repo, ref, base image and checkout), building
    into the image `target` with these labels."""
    repo = os.path.abspath(job.repo) if os.path.isdir(job.repo) else job.repo
    cmd = [
        sys.executable, "-m", "localhub.images.build_child", str(os.getpid()),
        "--config", str(REPO2DOCKER_CONFIG),
        "--engine", engine,
        "--json-logs", "--no-run",
        "--user-id", str(USER_ID), "--user-name", USER_NAME,
        "--image-name", target,
    ]
    for key, value in labels.items():
        cmd += ["--label", f"{key}={value}"]
    if job.base_image:
        cmd.append(f"--Repo2Docker.base_image={job.base_image}")
    if job.checkout:
        cmd.append(f"--Repo2Docker.git_workdir={job.checkout}")
    if job.ref and not os.path.isdir(job.repo):
        cmd += ["--ref", job.ref]
    return cmd + [repo]  # last: anything after the repository is a command to run


async def output_lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """Lines of a child's output, however long (StreamReader.readline gives up at its limit)."""
    pending = b""
    while chunk := await stream.read(1 << 16):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def parse_line(raw: str) -> tuple[str | None, str, str | None]:
    """One line of `repo2docker --json-logs` output → (phase, message, traceback or None)."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None, raw.rstrip("\n"), None
    if not isinstance(record, dict) or "message" not in record:
        return None, raw.rstrip("\n"), None
    return record.get("phase"), str(record["message"]).rstrip("\n"), record.get("exc_info")


async def wait_for_exit(proc: asyncio.subprocess.Process) -> int:
    try:
        return await asyncio.wait_for(proc.wait(), STOP_GRACE)
    except asyncio.TimeoutError:
        signal_group(proc, signal.SIGKILL)
        return await proc.wait()


def kill_if_running(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        signal_group(proc, signal.SIGKILL)


def signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

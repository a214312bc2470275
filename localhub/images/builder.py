"""Build an environment image for a resolved Binder spec, streaming typed events.

Each build runs `python -m repo2docker --json-logs` in its own process (a new session): repo2docker
changes the process's working directory while it builds and installs a global exception hook, so two
builds in one process would trip over each other; a child process also streams its JSON log lines
without threads and can be stopped together with the docker CLI it starts.

Callers asking for the same image while it builds share that one build: they get a `waiting` event,
then everything logged so far, then the live log. A build writes to a temporary name and is tagged
with the real one only when it succeeds, so a failed or cancelled build leaves no image behind.

Every line is published with how far the build has got (progress.py: its steps, and the clock against the
previous build of the same environment), and a quiet build publishes a tick each second so its followers see the
clock move.

The child process is started, read and stopped by build_process.py. A build never outlives its daemon: the
child process dies with it (see `build_child.py`), and a daemon that was killed mid-build removes what such a
build left (its temporary image, its checkout) when it starts again (`remove_interrupted`).
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import secrets
import shutil
import signal
import tempfile
import time
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import docker

from .events import BuildEvent, EventLog
from .catalog import (BUILDING_REPOSITORY, LABEL_SPEC, building_name, content_id, find_image, image_labels,
                      image_name, label_value)
from .logparse import REASON_PREFIX, failure_reason, one_line
from .build_process import (STOP_GRACE, kill_if_running, output_lines, parse_line, repo2docker_command,
                            signal_group, wait_for_exit)
from .inventory import LayerBook
from .progress import BuildProgress, BuildTimes

_R2D_PHASES = {"fetching": "fetching", "building": "building", "pushing": "building", "running": "building"}
_KEEP_LINES = 2000  # newest log lines kept in memory to explain a failure
TICK_SECONDS = 1.0  # how often a running build says where it is, with or without new output
# BuildKit 20.10 prints each step's digest on a line of its own: kept in the log, not worth an event.
_NOISE = re.compile(r"^#\d+ sha256:[0-9a-f]{64}$")


@dataclass
class _Job:
    image: str
    spec: str
    repo: str
    ref: str | None
    resolved: str
    base_image: str | None
    content_providers: tuple[str, ...] = ("Local", "Git")
    environment: str = ""  # the key of the image's name: the repository (or the spec, for direct callers)
    log: EventLog = field(default_factory=EventLog)
    task: asyncio.Task | None = None
    proc: asyncio.subprocess.Process | None = None
    cancelled: bool = False
    checkout: str | None = None  # where repo2docker clones; ours to remove, even after a kill
    phase: str = "fetching"
    rebuild: bool = False  # replaces an image of the same name (which its promotion then removes)
    progress: BuildProgress = field(default_factory=BuildProgress)

    def event(self, message: str, tick: bool = False) -> BuildEvent:
        """An event of this build now: `message` (a log line), or a tick (no message)."""
        p = self.progress
        return BuildEvent(self.phase, message, p.fraction() if self.phase == "building" else None,
                          detail=p.detail() or None, elapsed=round(p.elapsed(), 1),
                          left=None if p.left() is None else round(p.left(), 1), tick=tick)


class Builder:
    """Builds environment images with repo2docker; one build per image at a time.

    `client` is a docker-py `DockerClient`; build logs go to `<logs_dir>/<safe image name>.log`;
    `extra_labels` are set on every image (tests pass `{"localhub.test": "1"}`); `engine` names the
    repo2docker engine (`localhub`, registered by this package).
    """

    def __init__(
        self,
        client: docker.DockerClient,
        logs_dir: str | os.PathLike,
        extra_labels: dict[str, str] | None = None,
        engine: str = "localhub",
    ):
        self.client = client
        self.logs_dir = Path(logs_dir)
        self.extra_labels = dict(extra_labels or {})
        self.engine = engine
        self.builds_started = 0  # repo2docker processes started, for tests and metrics
        self._jobs: dict[str, _Job] = {}
        # repo2docker's clones live here (not in /tmp), so that a restarted daemon finds and removes them
        self.checkouts = self.logs_dir / ".checkouts"
        self.times = BuildTimes(self.logs_dir / "durations.json")  # the estimate for the next build
        self.layers = LayerBook(client)  # what images cost on disk, shared layers counted once

    # --- what callers use ------------------------------------------------------------------------

    async def build(
        self,
        spec: str,
        repo: str,
        resolved_ref: str | None = None,
        rebuild: bool = False,
        base_image: str | None = None,
        content_providers: tuple[str, ...] = ("Local", "Git"),
        environment: str | None = None,
    ) -> AsyncIterator[BuildEvent]:
        """Build (or reuse) the image for `spec`; yields events, the last one `built` or `failed`.

        `repo` is a clone URL (then `resolved_ref` is the commit to build) or a local folder (then a
        missing `resolved_ref` means "its current content"). `content_providers` names the repo2docker
        content providers that may fetch it (e.g. ("Zenodo",) for a Zenodo DOI). `environment` names the
        image (LaunchSpec.environment: the repository, whatever ref named it); by default the spec does.
        """
        environment = environment or spec
        if resolved_ref is None:
            if not os.path.isdir(repo):
                raise ValueError(f"resolved_ref is required to build {repo} (only a local folder can go without)")
            resolved = await asyncio.to_thread(content_id, repo)
        else:
            resolved = resolved_ref
        name = image_name(environment, resolved)

        job = self._jobs.get(name)
        if job is None and not rebuild:
            if await asyncio.to_thread(find_image, self.client, environment, resolved) is not None:
                yield BuildEvent("built", f"{name} is already built", 1.0, name)
                return
            job = self._jobs.get(name)  # someone may have started it while we looked
        if job is None:
            job = _Job(name, spec, repo, resolved_ref, resolved, base_image, tuple(content_providers), environment,
                       rebuild=rebuild)
            self._jobs[name] = job
            job.task = asyncio.create_task(self._run(job), name=f"build {name}")
        else:
            yield BuildEvent("waiting", f"{name} is already being built for another request; following that build")
        async for event in job.log.follow():
            yield event

    def image_name(self, spec: str, resolved_ref: str) -> str:
        return image_name(spec, resolved_ref)

    def building(self) -> list[str]:
        """Images being built right now."""
        return sorted(self._jobs)

    def status(self) -> list[dict]:
        """The builds running now, each with where it is (as its followers see it)."""
        found = []
        for name, job in sorted(self._jobs.items()):
            event = job.event("")
            found.append({"image": name, "spec": job.spec, "phase": event.phase, "progress": event.progress,
                          "detail": event.detail, "elapsed": event.elapsed, "left": event.left})
        return found

    def log_path(self, image: str) -> Path:
        return self.logs_dir / (re.sub(r"[^A-Za-z0-9._-]+", "_", image) + ".log")

    def read_log(self, image: str) -> str | None:
        """The log of the latest build of `image` (kept after success and failure), or None."""
        try:
            return self.log_path(image).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None

    def latest_log_for_spec(self, spec: str) -> str | None:
        """The newest kept build log for a spec, built or failed (each log opens with `# spec: …`)."""
        header = f"# spec: {spec}\n"
        logs = sorted(self.logs_dir.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in logs:
            with open(path, encoding="utf-8", errors="replace") as f:
                if header in f.read(4096):
                    return path.read_text(encoding="utf-8", errors="replace")
        return None

    def remove_interrupted(self) -> list[str]:
        """Remove what builds of this builder's daemon left when it was killed: temporary images (tagged
        under `localhub-building/` and carrying this builder's labels) and clones. Call it before any
        build starts; returns the names of the images removed."""
        if self._jobs:
            raise RuntimeError("remove_interrupted runs only while no build runs")
        shutil.rmtree(self.checkouts, ignore_errors=True)
        filters = {"label": [LABEL_SPEC] + [f"{k}={label_value(str(v))}" for k, v in self.extra_labels.items()]}
        removed = []
        for image in self.client.images.list(filters=filters):
            for tag in image.tags:
                if tag.startswith(BUILDING_REPOSITORY + "/"):
                    try:
                        self.client.images.remove(tag)
                        removed.append(tag)
                    except docker.errors.APIError:
                        pass  # in use after all: left for the next start
        return removed

    async def cancel(self, image: str) -> bool:
        """Stop a running build of `image`; its followers get a `failed` event. False if none runs."""
        job = self._jobs.get(image)
        if job is None:
            return False
        job.cancelled = True
        if job.proc is not None and job.proc.returncode is None:
            # SIGINT: repo2docker unwinds (and the docker CLI stops its build) before exiting.
            signal_group(job.proc, signal.SIGINT)
            asyncio.get_running_loop().call_later(STOP_GRACE, kill_if_running, job.proc)
        return True

    # --- one build --------------------------------------------------------------------------------

    async def _run(self, job: _Job) -> None:
        """Run one build to its end; whatever happens, followers get exactly one final event."""
        target = building_name(job.image, secrets.token_hex(4))
        started = time.monotonic()
        logfile = None
        final = BuildEvent("failed", "the build was interrupted")
        try:
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            logfile = open(self.log_path(job.image), "w", encoding="utf-8", buffering=1)
            code, reason = await self._execute(job, target, logfile)
            seconds = time.monotonic() - started
            if reason is None:
                logfile.write(f"# built {job.image} in {seconds:.1f} s\n")
                final = BuildEvent("built", f"Built {job.image} in {seconds:.1f} s", 1.0, job.image)
            else:
                logfile.write(f"# failed after {seconds:.1f} s (exit code {code}): {reason}\n")
                final = BuildEvent("failed", reason)
        except asyncio.CancelledError:
            if job.proc is not None and job.proc.returncode is None:
                signal_group(job.proc, signal.SIGKILL)
            raise
        except Exception as e:  # a broken engine, disk or docker-py: plain words here, details in the log
            if logfile is not None:
                logfile.write(traceback.format_exc())
            final = BuildEvent("failed", one_line(f"the build could not run: {e}"))
        finally:
            if final.phase == "failed":  # no image is left behind by the time a caller hears of the failure
                await asyncio.shield(asyncio.to_thread(self._discard, target))
            if logfile is not None:
                logfile.close()
            self._jobs.pop(job.image, None)
            await job.log.publish(final)
            await job.log.close()
            # Housekeeping after the followers have their answer, so a launch starts its server meanwhile: the
            # clone's removal grows with the repository, and the estimate for the next build can wait too.
            if final.phase == "built":
                await asyncio.shield(asyncio.to_thread(self.times.record, job.environment, seconds))
            if job.checkout:
                await asyncio.shield(asyncio.to_thread(shutil.rmtree, job.checkout, True))

    async def _execute(self, job: _Job, target: str, logfile) -> tuple[int | None, str | None]:
        """Run repo2docker, relaying its log; (exit code, None) when the image is built, else a reason."""
        labels = image_labels(job.spec, job.resolved, self.extra_labels, job.environment)
        if not os.path.isdir(job.repo):
            self.checkouts.mkdir(parents=True, exist_ok=True)
            job.checkout = tempfile.mkdtemp(prefix="checkout-", dir=self.checkouts)
        cmd = repo2docker_command(job, target, labels, self.engine)
        logfile.write(
            f"# localhub build of {job.image}\n# spec: {job.spec}\n# repo: {job.repo}\n"
            f"# ref: {job.ref or '(folder content ' + job.resolved + ')'}\n"
            f"# started: {labels['localhub.built']}\n# command: {' '.join(cmd)}\n"
        )
        at = f" at {job.ref[:12]}" if job.ref else ""
        job.progress = BuildProgress(await asyncio.to_thread(self.times.previous, job.environment))
        await job.log.publish(job.event(f"Fetching {job.repo}{at}"))
        self.builds_started += 1
        job.proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.logs_dir,
            env={**os.environ, "PYTHONUNBUFFERED": "1",
                 "LOCALHUB_CONTENT_PROVIDERS": ",".join(job.content_providers)},
            start_new_session=True,  # its own process group: cancel stops the docker CLI too
            umask=0o022,  # the daemon's own umask keeps the state dir private; checked-out files keep their modes
        )
        if job.cancelled:
            signal_group(job.proc, signal.SIGINT)
        tail: collections.deque[str] = collections.deque(maxlen=_KEEP_LINES)
        ticker = asyncio.create_task(_tick(job))
        try:
            async for raw in output_lines(job.proc.stdout):
                r2d_phase, message, detail = parse_line(raw)
                logfile.write(message + "\n" + (detail + "\n" if detail else ""))
                tail.append(message)
                job.phase = _R2D_PHASES.get(r2d_phase, job.phase)
                shown = message.split("\r")[-1].rstrip()
                job.progress.feed(shown)
                if shown and not _NOISE.match(shown) and not shown.startswith(REASON_PREFIX):
                    await job.log.publish(job.event(shown))
        finally:
            ticker.cancel()
        code = await wait_for_exit(job.proc)
        if job.cancelled:
            return code, "the build was cancelled"
        if code != 0:
            return code, failure_reason(tail, code)
        return code, await asyncio.to_thread(self._promote, target, job.image, job.rebuild)

    def _promote(self, target: str, name: str, rebuild: bool) -> str | None:
        """Tag a finished build with its real name; drop the image it replaces. A reason on failure.

        On the launch path between the build and the server's start: a new build (its name was looked up and
        not found before it started) costs the engine two requests, tag and untag; only a rebuild looks up the
        image it replaces."""
        api = self.client.api
        previous = None
        if rebuild:
            try:
                previous = api.inspect_image(name)["Id"]
            except docker.errors.ImageNotFound:
                pass
        repository, tag = name.rsplit(":", 1)
        try:
            api.tag(target, repository, tag, force=True)
        except docker.errors.NotFound:
            return "repo2docker finished without producing an image"
        api.remove_image(target)  # only untags: the image keeps its real name
        if previous and previous != api.inspect_image(name)["Id"]:  # an identical build is the same image
            try:
                api.remove_image(previous)
            except docker.errors.APIError:
                pass  # a container still uses it; `docker image prune` can take it later
        return None

    def _discard(self, target: str) -> None:
        try:
            self.client.images.remove(target, force=True)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError:
            pass


async def _tick(job: _Job) -> None:
    """Publish where the build is every TICK_SECONDS, until cancelled."""
    while True:
        await asyncio.sleep(TICK_SECONDS)
        await job.log.publish(job.event("", tick=True))

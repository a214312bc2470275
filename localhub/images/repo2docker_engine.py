"""repo2docker's container engine for localhub (`--engine localhub`): builds with what this machine has.

repo2docker's own Docker engine always runs `docker buildx`, which many engines (Debian's 20.10
among them) lack. This engine keeps everything else of repo2docker's (`run`, `inspect_image`,
registry login) and only chooses how `build()` happens — see `method.py`. Like repo2docker's
engine it yields the build output as strings, line by line, so repo2docker turns each line into a
`building` progress event; on failure it logs one plain-words reason and raises `BuildError`.
"""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import tarfile
import tempfile

import docker
from repo2docker.docker import DockerEngine
from repo2docker.engine import BuildError, Image
from repo2docker.utils import execute_cmd
from traitlets import Unicode

from .logparse import REASON_PREFIX, failure_reason
from .method import BUILDKIT_CLI, BUILDX, LEGACY_API, buildkit_only_feature, describe_build_method, detect_build_method

__all__ = ["LocalhubEngine", "describe_build_method"]

_TAIL = 400  # lines of output kept to explain a failure


class LocalhubEngine(DockerEngine):
    """A repo2docker engine that builds with buildx, BuildKit through the classic CLI, or the legacy builder."""

    method_name = Unicode(
        "",
        config=True,
        help="Force a build method (buildx, buildkit-cli, legacy-api); empty means detect. "
        "The LOCALHUB_BUILD_METHOD environment variable does the same.",
    )

    def _method(self):
        return detect_build_method(self.method_name or None)

    @property
    def container_cli(self):
        """The docker CLI used for `inspect_image` and logins; unlike repo2docker's, buildx is not required."""
        cli = self._method().cli
        if cli is None:
            raise RuntimeError("no docker command-line client found (inspect_image needs one)")
        return cli

    def inspect_image(self, image):
        if self._method().cli is None:
            return self._inspect_with_api(image)
        return super().inspect_image(image)

    def _inspect_with_api(self, image):
        try:
            attrs = docker.from_env(version="auto", **self.extra_init_args).api.inspect_image(image)
        except docker.errors.ImageNotFound:
            return None
        config = dict(attrs["Config"] or {})
        config.setdefault("WorkingDir", "")
        return Image(tags=attrs.get("RepoTags") or [], config=config)

    def build(
        self,
        *,
        push=False,
        load=False,
        buildargs=None,
        cache_from=None,
        container_limits=None,
        tag="",
        custom_context=False,
        dockerfile="",
        fileobj=None,
        path="",
        labels=None,
        platform=None,
        **kwargs,
    ):
        method = self._method()
        tail: collections.deque[str] = collections.deque(maxlen=_TAIL)
        try:
            if push and method.kind != BUILDX:
                raise BuildError("pushing needs `docker buildx`; without it this engine builds locally only")
            if method.kind == BUILDX:
                # An image must land in the engine's store to be run, whatever the buildx driver.
                lines = super().build(
                    push=push, load=load or not push, buildargs=buildargs, cache_from=cache_from,
                    container_limits=container_limits, tag=tag, custom_context=custom_context,
                    dockerfile=dockerfile, fileobj=fileobj, path=path, labels=labels, platform=platform, **kwargs,
                )
            elif method.kind == BUILDKIT_CLI:
                lines = self._build_with_cli(
                    method.cli, buildargs=buildargs, cache_from=cache_from, tag=tag, dockerfile=dockerfile,
                    fileobj=fileobj, path=path, labels=labels, platform=platform,
                )
            else:
                assert method.kind == LEGACY_API
                lines = self._build_with_api(
                    buildargs=buildargs, cache_from=cache_from, container_limits=container_limits, tag=tag,
                    dockerfile=dockerfile, fileobj=fileobj, path=path, labels=labels, platform=platform,
                )
            yield method.reason + "\n"
            for line in lines:
                tail.append(line)
                yield line
        except (subprocess.CalledProcessError, _FailedInOutput) as e:
            self._fail(failure_reason(tail, getattr(e, "returncode", None)))
        except docker.errors.APIError as e:
            self._fail(failure_reason([*tail, str(e.explanation or e)]))
        except BuildError as e:
            self._fail(str(e))

    def _fail(self, reason: str):
        # One line with the reason reaches the log, then repo2docker ends the build without a traceback.
        self.log.error(f"{REASON_PREFIX}{reason}\n", extra={"phase": "failed"})
        raise BuildError(reason)

    # --- BuildKit through the classic CLI ----------------------------------------------------------

    def _build_with_cli(self, cli, *, buildargs, cache_from, tag, dockerfile, fileobj, path, labels, platform):
        args = [cli, "build", "--progress", "plain"]
        for key, value in (buildargs or {}).items():
            args += ["--build-arg", f"{key}={value}"]
        for image in cache_from or []:
            args += ["--cache-from", image]
        if tag:
            args += ["--tag", tag]
        for key, value in (labels or {}).items():
            args += ["--label", f"{key}={value}"]
        if platform:
            args += ["--platform", platform]
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        with _context_dir(fileobj, path) as context:
            if dockerfile:
                args += ["--file", os.path.join(context, dockerfile)]
            yield from execute_cmd([*args, context], capture=True, env=env)

    # --- the Engine API's legacy builder --------------------------------------------------------------

    def _build_with_api(self, *, buildargs, cache_from, container_limits, tag, dockerfile, fileobj, path, labels, platform):
        text = _read_dockerfile(fileobj, path, dockerfile or "Dockerfile")
        feature = buildkit_only_feature(text)
        if feature:
            raise BuildError(
                f"the Dockerfile uses {feature}, which needs BuildKit, and this machine has only "
                "the legacy builder (install the docker buildx plugin)"
            )
        api = docker.APIClient(**{**docker.utils.kwargs_from_env(), "version": "auto", **self.extra_init_args})
        kwargs = dict(
            tag=tag or None, buildargs=buildargs or None, labels=labels or None, cache_from=cache_from or None,
            container_limits=container_limits or None, platform=platform or None,
            rm=True, forcerm=True, decode=True,
        )
        if fileobj is not None:
            fileobj.seek(0)
            chunks = api.build(fileobj=fileobj, custom_context=True, dockerfile=dockerfile or None, **kwargs)
        else:
            chunks = api.build(path=path, dockerfile=dockerfile or None, **kwargs)
        partial = ""
        for chunk in chunks:
            if "error" in chunk:
                yield from ([partial + "\n"] if partial else [])
                yield chunk["error"].rstrip("\n") + "\n"
                raise _FailedInOutput()
            if "stream" in chunk:
                partial += chunk["stream"]
                *complete, partial = partial.split("\n")
                for line in complete:
                    yield line + "\n"
            elif "status" in chunk:
                progress = f" {chunk['progress']}" if chunk.get("progress") else ""
                yield f"{chunk['status']}{progress}\n"
        if partial:
            yield partial + "\n"


class _FailedInOutput(Exception):
    """The build failed and its output says why."""


@contextlib.contextmanager
def _context_dir(fileobj, path):
    """The build context as a folder: `path` itself, or `fileobj` (a tar) unpacked into a temporary one."""
    if fileobj is None:
        yield os.path.abspath(path)
        return
    with tempfile.TemporaryDirectory(prefix="localhub-context-") as folder:
        fileobj.seek(0)
        with tarfile.open(fileobj=fileobj) as tar:
            tar.extractall(folder, filter="tar")
        yield folder


def _read_dockerfile(fileobj, path, dockerfile) -> str:
    if fileobj is None:
        with open(os.path.join(path, dockerfile), encoding="utf-8", errors="replace") as f:
            return f.read()
    fileobj.seek(0)
    with tarfile.open(fileobj=fileobj) as tar:
        member = tar.extractfile(dockerfile)
        return member.read().decode("utf-8", "replace") if member else ""


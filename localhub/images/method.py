"""Choose how this machine builds images: `docker buildx`, BuildKit through the classic CLI, or the
Engine API's legacy builder — and say which one, and why, in one sentence.

The order is a preference: buildx is what repo2docker expects; a pre-23 docker CLI (Debian's 20.10,
say) speaks BuildKit itself when `DOCKER_BUILDKIT=1`; the legacy builder needs no CLI at all but
cannot build repo2docker's own buildpack Dockerfiles (they use `COPY --chmod`).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

BUILDX = "buildx"
BUILDKIT_CLI = "buildkit-cli"
LEGACY_API = "legacy-api"
METHODS = (BUILDX, BUILDKIT_CLI, LEGACY_API)

# Set to one of METHODS to force a method (tests use it to exercise the legacy builder).
FORCE_ENV = "LOCALHUB_BUILD_METHOD"

# Where distributions put their own CLI when something else shadows it on PATH.
FALLBACK_CLIS = ("/usr/bin/docker",)


@dataclass(frozen=True)
class BuildMethod:
    kind: str  # one of METHODS
    cli: str | None  # the docker CLI that builds (buildx / BuildKit), or any working one
    reason: str  # one sentence: which method and why

    def describe(self) -> str:
        return self.reason


def _run_ok(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess | None:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=20, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc if proc.returncode == 0 else None


def candidate_clis() -> list[str]:
    """Every `docker` executable on PATH, in PATH order, then the distribution's, without repeats."""
    found: list[str] = []
    seen: set[str] = set()
    for folder in os.environ.get("PATH", "").split(os.pathsep) + [os.path.dirname(p) for p in FALLBACK_CLIS]:
        path = shutil.which("docker", path=folder) if folder else None
        if path and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            found.append(path)
    return found


def has_buildx(cli: str) -> bool:
    return _run_ok([cli, "buildx", "version"]) is not None


def has_builtin_buildkit(cli: str) -> bool:
    """True when `DOCKER_BUILDKIT=1 <cli> build` is BuildKit without the buildx plugin.

    Newer CLIs refuse (`BuildKit is enabled but the buildx component is missing`); older ones carry a
    BuildKit client and show its flags (`--progress`, `--secret`) in the build help.
    """
    proc = _run_ok([cli, "build", "--help"], env={**os.environ, "DOCKER_BUILDKIT": "1"})
    return proc is not None and "--progress" in proc.stdout


def _detect(forced: str) -> BuildMethod:
    clis = [c for c in candidate_clis() if _run_ok([c, "--version"])]
    note = f" (forced to {forced})" if forced else ""
    if forced in ("", BUILDX):
        for cli in clis:
            if has_buildx(cli):
                return BuildMethod(BUILDX, cli, f"Building with `docker buildx`: {cli} has the buildx plugin{note}.")
    if forced in ("", BUILDKIT_CLI):
        for cli in clis:
            if has_builtin_buildkit(cli):
                return BuildMethod(
                    BUILDKIT_CLI,
                    cli,
                    f"Building with BuildKit through the classic CLI (`DOCKER_BUILDKIT=1 {cli} build`): "
                    + ("" if forced else "no docker CLI here has the buildx plugin, but ")
                    + f"{cli} has BuildKit built in{note}.",
                )
    if forced and forced != LEGACY_API:
        best = _detect("")
        return BuildMethod(best.kind, best.cli, f"{forced} was asked for but is not available here. {best.reason}")
    why = note or (": no docker CLI here has buildx or built-in BuildKit" if clis else ": no docker CLI found")
    return BuildMethod(
        LEGACY_API,
        clis[0] if clis else None,
        f"Building with the Docker Engine API's legacy builder{why} — plain Dockerfile repositories only; "
        "repo2docker's buildpacks need BuildKit (install the docker buildx plugin).",
    )


@functools.cache
def _cached(forced: str) -> BuildMethod:
    return _detect(forced)


def detect_build_method(forced: str | None = None) -> BuildMethod:
    """The method this process builds with: `forced`, else $LOCALHUB_BUILD_METHOD, else the best found.

    The machine is probed once per process; the override is read on every call.
    """
    if forced is None:
        forced = os.environ.get(FORCE_ENV, "")
    forced = forced.strip().lower()
    if forced and forced not in METHODS:
        raise ValueError(f"{FORCE_ENV}={forced!r} is not one of {', '.join(METHODS)}")
    return _cached(forced)


def describe_build_method() -> str:
    """One sentence for `localhub doctor`: which build method is in use and why."""
    return detect_build_method().describe()


# Dockerfile features the legacy builder rejects.
_SYNTAX = re.compile(r"^\s*#\s*syntax\s*=", re.I)
_FLAG = re.compile(
    r"^\s*(?P<instr>RUN|COPY|ADD)\s+(?:--\S+\s+)*"
    r"--(?P<flag>mount|network|security|chmod|link|checksum|parents|exclude|keep-git-dir)\b",
    re.I,
)
_HEREDOC = re.compile(r"^\s*(?P<instr>RUN|COPY|ADD)\s+(?:--\S+\s+)*<<", re.I)


def buildkit_only_feature(dockerfile_text: str) -> str | None:
    """Name the first BuildKit-only feature in a Dockerfile, or None if the legacy builder can build it."""
    in_header = True  # parser directives only count in the leading comment block
    for line in dockerfile_text.splitlines():
        if in_header and _SYNTAX.match(line):
            return "a `# syntax=` parser directive"
        in_header = in_header and (not line.strip() or line.lstrip().startswith("#"))
        if match := _FLAG.match(line):
            return f"`{match['instr'].upper()} --{match['flag'].lower()}`"
        if match := _HEREDOC.match(line):
            return f"a heredoc in `{match['instr'].upper()}`"
    return None

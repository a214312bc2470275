"""What repo2docker would build for a folder, without Docker and without the network.

`build_plan(repo_dir)` runs repo2docker's own buildpack detection (its ordered list, its default)
and `render()`, so the answer is the buildpack repo2docker picks and the Dockerfile it generates.
Two buildpacks ask the internet while rendering — Julia for its list of releases, R for the date's
package snapshot — so here they get offline stand-ins, and the plan says so in `notes`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from repo2docker.app import Repo2Docker
from repo2docker.buildpacks import JuliaProjectTomlBuildPack, RBuildPack
from repo2docker.utils import chdir, get_platform

from .build_process import USER_ID, USER_NAME

# The newest patch release of each Julia minor version known when this was written; the real build
# asks for the current list and may pick a newer patch release.
KNOWN_JULIA_RELEASES = (
    "1.0.5", "1.1.1", "1.2.0", "1.3.1", "1.4.2", "1.5.4", "1.6.7", "1.7.3", "1.8.5", "1.9.4",
    "1.10.9", "1.11.5",
)


class _OfflineJuliaProject(JuliaProjectTomlBuildPack):
    upstream = JuliaProjectTomlBuildPack
    note = "Julia version chosen from a built-in list of releases; the real build may pick a newer patch release."

    @property
    def all_julias(self):
        return list(KNOWN_JULIA_RELEASES)


class _OfflineR(RBuildPack):
    upstream = RBuildPack
    note = "R package snapshot URL left as a placeholder; the real build looks it up for the runtime.txt date."

    def get_rspm_snapshot_url(self, snapshot_date, max_days_prior=7):
        return f"R-PACKAGE-SNAPSHOT-{snapshot_date:%Y-%m-%d}-LOOKED-UP-AT-BUILD-TIME"


_OFFLINE = {cls.upstream: cls for cls in (_OfflineJuliaProject, _OfflineR)}


@dataclass(frozen=True)
class BuildPlan:
    buildpack: str  # repo2docker's class name, e.g. "PythonBuildPack"
    dockerfile: str  # what repo2docker would build (for DockerBuildPack: the repository's own)
    base_image: str
    notes: tuple[str, ...] = field(default=())


def build_plan(repo_dir: str | os.PathLike, base_image: str | None = None) -> BuildPlan:
    """The buildpack and generated Dockerfile for the repository checked out in `repo_dir`.

    Buildpacks look for their files relative to the working directory, so this changes it for the
    duration of the call: call it from the main thread, not from several threads at once.
    """
    settings = Repo2Docker()
    base = base_image or settings.base_image
    repo_dir = os.path.abspath(repo_dir)
    if not os.path.isdir(repo_dir):
        raise FileNotFoundError(f"no folder at {repo_dir}")
    with chdir(repo_dir):
        for cls in settings.buildpacks:
            buildpack = _OFFLINE.get(cls, cls)(base_image=base)
            if buildpack.detect():
                break
        else:
            cls = settings.default_buildpack
            buildpack = _OFFLINE.get(cls, cls)(base_image=base)
        buildpack.platform = get_platform()
        dockerfile = buildpack.render({"NB_USER": USER_NAME, "NB_UID": str(USER_ID)})
    upstream = getattr(type(buildpack), "upstream", type(buildpack))
    notes = (buildpack.note,) if hasattr(buildpack, "note") else ()
    return BuildPlan(upstream.__name__, dockerfile, base, notes)

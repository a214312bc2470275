"""Helpers of the workshop tests: GitHub stood in for by local repositories (the edge of the internet), and
a class room of laptops on a simulated LAN (tests/lan/netns.py, engines.py, desks.py), each with its own
Docker engine, its own localhub and no route out.

FakeGitHub: `https://github.com/<org>/<repo>` is rewritten by git itself (`url.<base>.insteadOf`, given in
the environment) to a folder of local repositories, so a real `gh/…` Binder link — the original
mybinder.org link — resolves and builds on the teacher's machine, and nowhere else.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tests.support.binder import CaseRepo


class FakeGitHub:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.org = f"workshop-{uuid.uuid4().hex[:8]}"  # image names stay apart from other runs' builds
        (self.root / self.org).mkdir(parents=True, exist_ok=True)

    def repo(self, case: str, name: str) -> CaseRepo:
        """A case repository under this org, with a file of its own: its environment's top layer is then
        new to every engine (other tests build the same cases, and identical layers would be shared)."""
        repo = CaseRepo(case, self.root / self.org, name)
        repo.commit("this copy", {"WORKSHOP": f"{self.org}/{name}\n"})
        return repo

    def link(self, name: str, ref: str = "main", urlpath: str | None = None) -> str:
        return f"https://mybinder.org/v2/gh/{self.org}/{name}/{ref}" + (f"?urlpath={urlpath}" if urlpath else "")

    def spec(self, name: str, ref: str = "main") -> str:
        return f"gh/{self.org}/{name}/{ref}"

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach this GitHub: git's own URL rewriting, by environment."""
        count = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
        return {"GIT_CONFIG_COUNT": str(count + 1), f"GIT_CONFIG_KEY_{count}": f"url.file://{self.root}/.insteadOf",
                f"GIT_CONFIG_VALUE_{count}": "https://github.com/"}

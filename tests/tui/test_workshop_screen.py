"""The Workshop screen against the in-memory client: reached with w and from the palette, it shows a bundle
import's progress with sizes and rates, the bundles, and the class (code, environments fetched or being
fetched, the laptops and what each has, material and hand-ins); a hub that does not answer is said in words."""

from __future__ import annotations

import pytest
from textual.widgets import ProgressBar, Static

from localhub.errors import LocalhubError
from localhub_tui.screens.workshop import WorkshopScreen
from .fakes import FakeClient
from .helpers import until
from .test_app_unit import make_app

pytestmark = pytest.mark.unit

SPEC = "gh/workshop-org/course/main"
WORKSHOP = {
    "bundles": [{"name": "course", "size": 210 << 20, "links": [{"spec": SPEC}], "id": "0123456789abcdef"}],
    "import": {"state": "running", "bundle": "day2", "progress": {"done": 48 << 20, "total": 96 << 20,
                                                                   "fraction": 0.5, "rate": 12 << 20,
                                                                   "skipped": 180 << 20}},
    "class": {"role": "teacher", "name": "teacher", "class": "a1b2c3d4e5f60718", "address": "10.0.0.2",
              "port": 8471, "code": "K7Q4-M2PX-9DRT-H8WC", "preparing": None,
              "environments": [
                  {"spec": SPEC, "size": 64 << 20, "ready": True, "fetching": None, "error": None},
                  {"spec": "gh/workshop-org/lab2/main", "size": 70 << 20, "ready": False, "error": None,
                   "fetching": {"done": 20 << 20, "total": 70 << 20, "fraction": 0.29, "rate": 8 << 20}}],
              "peers": [{"name": "ada", "role": "participant", "address": "10.0.0.3", "reachable": True,
                         "ready": [SPEC], "fetching": {"gh/workshop-org/lab2/main": {"fraction": 0.4}}},
                        {"name": "grace", "role": "participant", "address": "10.0.0.4", "reachable": False,
                         "ready": [], "fetching": {}}],
              "material": {"name": "day1", "version": 2, "size": 4096},
              "handins": [{"at": "2026-12-01T10:00:00+00:00", "name": "ada", "path": "day1/answers.txt"}]},
}


class WorkshopClient(FakeClient):
    def __init__(self, data=None, fail=None):
        super().__init__()
        self.data, self.fail = data, fail

    def workshop(self) -> dict:
        if self.fail:
            raise LocalhubError(self.fail)
        return self.data


def text(screen, selector: str) -> str:
    """What a section shows, as plain text ("" until the screen is composed)."""
    from rich.console import Console

    found = screen.query(selector)
    if not found:
        return ""
    console = Console(width=200, record=True)
    console.print(found.first(Static).content)
    return console.export_text()


async def test_w_opens_the_workshop_with_the_class_and_the_import():
    app = make_app(WorkshopClient(WORKSHOP))
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WorkshopScreen) and "K7Q4" in text(app.screen, "#ws-class"))
        screen = app.screen
        assert "day2: running — 48.0 MiB of 96.0 MiB (50%) at 12.0 MiB/s; 180.0 MiB already here" in \
            text(screen, "#ws-import")
        assert screen.query_one("#ws-import-bar", ProgressBar).progress == pytest.approx(0.5)
        assert "course (210.0 MiB): gh/workshop-org/course/main" in text(screen, "#ws-bundles")
        envs = text(screen, "#ws-envs")
        assert "ready" in envs and "fetching 20.0 MiB of 70.0 MiB (29%) at 8.0 MiB/s" in envs
        peers = text(screen, "#ws-peers")
        assert "ada" in peers and "40%" in peers and "unreachable" in peers
        work = text(screen, "#ws-work")
        assert "day1 version 2" in work and "ada: day1/answers.txt" in work
        await pilot.press("escape")
        assert not isinstance(app.screen, WorkshopScreen)


async def test_no_class_and_a_silent_hub_are_said_in_words():
    app = make_app(WorkshopClient({"bundles": [], "import": None, "class": None}))
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_workshop()
        await until(pilot, lambda: isinstance(app.screen, WorkshopScreen) and "no class" in text(app.screen, "#ws-class"))
        assert not app.screen.query_one("#ws-envs").display
    app = make_app(WorkshopClient(fail="The hub at http://127.0.0.1:8765 did not answer (ConnectError)."))
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_workshop()
        await until(pilot, lambda: "did not answer" in text(app.screen, "#ws-class"))

"""The Environments tab: images built from Binder specs — what they were built from, how big, when,
and which servers use them — with rebuild, remove and the stored build log.

Arrives with the hub's Binder support (`Client.environments`, `build_log`, `rebuild`,
`remove_environment`); until then the tab says so.
"""

from __future__ import annotations

from typing import Iterator
from urllib.parse import unquote

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable

from .. import format as fmt
from ..connection import LocalhubError
from ..widgets.confirm import ConfirmScreen
from ..widgets.filter import FilterBar
from ..widgets.keyed_table import Column, KeyedTable
from ..widgets.steady import SteadyStatic
from .base import HubMixin, PaletteEntry
from .logs import LogScreen

COLUMNS = [Column("spec", "Spec", priority=0), Column("resolved", "Resolved", priority=3),
           Column("size", "Size", priority=1, descending=True), Column("built", "Built", priority=1, descending=True),
           Column("used_by", "Used by", priority=2)]
UNAVAILABLE = "Environments appear here once this hub builds Binder launches (not available yet)."


def spec_text(env: dict) -> str:
    """The spec as people read it: Binder specs URL-encode the repository (git/https%3A%2F%2F…)."""
    return unquote(str(env.get("spec") or env.get("image") or fmt.DASH))


def environment_cells(env: dict, now) -> tuple:
    resolved = str(env.get("resolved") or fmt.DASH)
    used_by = env.get("servers") or []
    built = (Text("building…", style="yellow", justify="right") if env.get("building")
             else Text(fmt.ago(env.get("built"), now), justify="right"))
    return (
        Text(spec_text(env), style="bold"),
        Text(resolved[:12], style="dim"),
        Text(fmt.size(env.get("size")), justify="right"),
        built,
        ", ".join(used_by) if used_by else Text("unused", style="dim"),
    )


def sort_values(env: dict) -> tuple:
    """Builds in progress sort as the newest; sizes as numbers; unused environments as 0 servers."""
    built = "9999" if env.get("building") else env.get("built")
    return (spec_text(env).lower(), env.get("resolved"), env.get("size"), built, len(env.get("servers") or []))


def unused(environments: dict[str, dict]) -> list[dict]:
    """Environments no server uses and none is building: what `prune` removes."""
    return [e for e in environments.values() if not e.get("servers") and not e.get("building")]


def event_line(event: dict) -> str:
    phase = event.get("phase") or ""
    message = (event.get("message") or "").rstrip("\n")
    return f"[{phase}] {message}" if phase else message


class EnvironmentsView(HubMixin, Vertical):
    BINDINGS = [
        Binding("l", "build_log", "Build log", tooltip="Read the stored build log (also Enter)"),
        Binding("r", "rebuild", "Rebuild", tooltip="Build the environment again from its spec"),
        Binding("d", "remove", "Remove", tooltip="Remove the image (asks first)"),
        Binding("p", "prune", "Prune", tooltip="Remove every environment no server uses (asks first)"),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.environments: dict[str, dict] = {}
        self._rows: dict[str, tuple] = {}  # image -> (its environment, its age as shown, its row): _row
        self.table = KeyedTable(COLUMNS, id="environments-table")
        self.table.sort_by("built")  # newest build first

    def compose(self) -> ComposeResult:
        yield self.table
        yield SteadyStatic(UNAVAILABLE, id="environments-empty", classes="empty")
        yield FilterBar(self.table, id="environments-filter")

    def show(self, environments: list[dict] | None, error: str | None = None) -> None:
        """Fresh data from the poll; None when the hub does not offer environments yet."""
        empty = self.query_one("#environments-empty", SteadyStatic)
        if environments is None:
            empty.update(Text(error, style="red") if error else UNAVAILABLE)
            empty.display = True
            self.table.display = False
            return
        self.environments = {e["image"]: e for e in environments}
        now = self.app.clock()
        self.table.display = True
        self.table.sync([self._row(image, e, now) for image, e in self.environments.items()])
        for image in set(self._rows).difference(self.environments):
            del self._rows[image]
        empty.update("No environments yet: launching a Binder link builds one.")
        empty.display = not environments

    def _row(self, image: str, env: dict, now) -> tuple:
        """(key, cells, sort values) of an environment's row. It depends on the clock only through the build's
        age as shown ("3 min ago"): while the environment equals the last poll's and its age reads the same, the
        same row (the same objects) is given again and the table passes over it."""
        age = None if env.get("building") else fmt.ago(env.get("built"), now)
        kept = self._rows.get(image)
        if kept is not None and kept[0] == env and kept[1] == age:
            return kept[2]
        row = (image, environment_cells(env, now), sort_values(env))
        self._rows[image] = (env, age, row)
        return row

    def _target(self, image: str | None) -> dict | None:
        image = image if image is not None else self.table.cursor_key
        if image is None or image not in self.environments:
            self.app.notify("No environment selected.", severity="warning")
            return None
        return self.environments[image]

    def _offered(self, method: str, what: str) -> bool:
        if self.connection.offers(method):
            return True
        self.app.notify(f"{what} is not available from this hub yet.", severity="warning")
        return False

    @on(DataTable.RowSelected, "#environments-table")
    def _enter(self) -> None:
        self.action_build_log()

    def action_build_log(self, image: str | None = None) -> None:
        env = self._target(image)
        if env is None or not self._offered("build_log", "The build log"):
            return
        target = env["image"]
        self.app.push_screen(LogScreen(f"Build log of {spec_text(env)}",
                                       lambda client: client.build_log(target),
                                       file_stem="build-" + target.rsplit("/", 1)[-1]))

    def action_rebuild(self, image: str | None = None) -> None:
        env = self._target(image)
        if env is None or not self._offered("rebuild", "Rebuilding"):
            return
        spec = env.get("spec") or env["image"]
        self.app.push_screen(LogScreen(f"Rebuilding {spec_text(env)}",
                                       lambda client: (event_line(e) for e in client.rebuild(spec) if not e.get("tick"))))

    def action_remove(self, image: str | None = None) -> None:
        env = self._target(image)
        if env is None or not self._offered("remove_environment", "Removing environments"):
            return
        image = env["image"]
        users = env.get("servers") or []
        body = (f"This removes the image {image} ({fmt.size(env.get('size'))}) from Docker. "
                + (f"Servers using it ({', '.join(users)}) keep their files but need a rebuild to start again."
                   if users else "No server uses it.")
                + " Launching the same link later builds it again.")

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._remove(image)

        self.app.push_screen(ConfirmScreen(f"Remove environment {spec_text(env)}?", body,
                                           "Remove image"), answered)

    @work(thread=True, group="environment-action", exit_on_error=False)
    def _remove(self, image: str) -> None:
        try:
            self.connection.client.remove_environment(image)
        except LocalhubError as err:
            self.notify_error(str(err))
        else:
            self.tell(f"Removed {image}.")
        finally:
            self.ui(self.hub_app.poll)

    def action_prune(self) -> None:
        if not self._offered("remove_environment", "Removing environments"):
            return
        doomed = unused(self.environments)
        if not doomed:
            self.app.notify("Nothing to prune: every environment is used by a server.")
            return
        total = sum(e.get("size") or 0 for e in doomed)
        names = ", ".join(spec_text(e) for e in doomed[:5]) + (f" and {len(doomed) - 5} more" if len(doomed) > 5 else "")
        body = (f"This removes {len(doomed)} environment image{'s' if len(doomed) != 1 else ''} that no server "
                f"uses ({fmt.size(total)} at most; layers shared with other images stay): {names}. "
                "Launching their links later builds them again.")

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._prune([e["image"] for e in doomed])
            else:
                self.app.notify("Nothing removed.")

        self.app.push_screen(ConfirmScreen("Prune unused environments?", body, "Remove unused images"), answered)

    @work(thread=True, group="environment-action", exit_on_error=False)
    def _prune(self, images: list[str]) -> None:
        removed, failed = 0, []
        for image in images:
            try:
                self.connection.client.remove_environment(image)
                removed += 1
            except LocalhubError as err:  # started by a server meanwhile, or gone: say so, go on
                failed.append(str(err))
        self.tell(f"Removed {removed} unused environment{'s' if removed != 1 else ''}.")
        if failed:
            self.notify_error(" ".join(failed))
        self.ui(self.hub_app.poll)

    def palette(self) -> Iterator[PaletteEntry]:
        yield PaletteEntry("Prune unused environments", "Key p on Environments: asks first", self.action_prune)
        for image, env in self.environments.items():
            spec = spec_text(env)
            yield PaletteEntry(f"Rebuild environment {spec}", image, lambda i=image: self.action_rebuild(i), False)
            yield PaletteEntry(f"Remove environment {spec}", "Asks first", lambda i=image: self.action_remove(i), False)
            yield PaletteEntry(f"Build log of {spec}", image, lambda i=image: self.action_build_log(i), False)

"""The Launch tab: paste a Binder link, see how it parses as you type, launch it and watch the phases
and the build log until the server is ready: the bar and the status line (where the build is, the time elapsed
and, from the previous build, the time left) move with the hub's ticks between log lines. A failed launch turns
the bar red, says its reason once, and offers r Retry, b Rebuild and l the whole build log.

Launches arrive with the hub's Binder support (`Client.parse_link`, `Client.launch`); until the client
has them the tab says so and stays disabled.
"""

from __future__ import annotations

from typing import Iterator

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, RichLog, Select, Static
from textual.worker import get_current_worker

from localhub.client import LaunchEvent, clock_text

from ..connection import LocalhubError
from .base import HubMixin, PaletteEntry
from .logs import LogScreen

PARSE_DELAY = 0.35  # seconds of quiet typing before the link is parsed
PHASE_STYLE = {"failed": "bold red", "ready": "bold green", "built": "green", "building": "yellow",
               "fetching": "cyan", "launching": "cyan", "waiting": "dim"}
HINT = "Paste a Binder link (https://mybinder.org/v2/gh/owner/repo/HEAD) or a repository URL."


def parse_table(parsed: dict) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", justify="right")
    grid.add_column()
    for key, label in (("provider", "provider"), ("repo", "repository"), ("ref", "ref"),
                       ("urlpath", "opens"), ("spec", "spec")):
        value = parsed.get(key)
        if value:
            grid.add_row(label, Text(str(value)))
    return grid


class LaunchView(HubMixin, Vertical):
    BINDINGS = [
        Binding("o", "open", "Open", tooltip="Open the launched server in the browser"),
        Binding("ctrl+l", "launch", "Launch", tooltip="Launch the link (also Enter in the link field)"),
        Binding("ctrl+n", "new_link", "New link", show=False, tooltip="Clear the link field and type a new one"),
        Binding("r", "retry", "Retry", tooltip="Launch the failed link again (a fixed repository builds anew)"),
        Binding("b", "rebuild", "Rebuild", tooltip="Launch the failed link again, building its commit from scratch"),
        Binding("l", "build_log", "Build log", tooltip="The whole build log of the failed launch"),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.parsed: dict | None = None
        self.ready_url: str | None = None
        self.running = False
        self._parse_timer: Timer | None = None
        self.available: bool | None = None
        self.phases: list[str] = []  # the phases the current launch went through, in order
        self._profiles: list[str] = []
        self.failed: dict | None = None  # the failed event of the last launch, while it is the last one

    def compose(self) -> ComposeResult:
        yield Static(HINT, id="launch-hint", classes="hint")
        with Horizontal(id="launch-row"):
            yield Input(placeholder="https://mybinder.org/v2/gh/owner/repo/HEAD", id="link")
            yield Button("Launch", id="launch", variant="success", disabled=True)
        yield Static("", id="parse")
        with Horizontal(id="launch-options"):
            yield Label("Profile", classes="inline-label")
            yield Select([], id="launch-profile", prompt="hub default")
            yield Checkbox("Rebuild even if built", id="rebuild")
        with Horizontal(id="phase-row"):
            yield Static("", id="phase")
            yield ProgressBar(total=100, show_eta=False, id="launch-progress")
        yield RichLog(id="build-log", wrap=True, markup=False, highlight=False, max_lines=20_000)
        yield Static("", id="ready")

    def on_mount(self) -> None:
        self.query_one("#phase-row").display = False

    # --- availability and profiles (the app calls these when the hub answers) -----------------------
    def hub_ready(self, info: dict) -> None:
        self.available = self.connection.offers("parse_link") and self.connection.offers("launch")
        link = self.query_one("#link", Input)
        link.disabled = not self.available
        if not self.available:
            self._parse_message(Text("Binder launches are not available from this hub yet; "
                                     "the Servers tab can start plain servers meanwhile.", style="yellow"))
        elif not link.value:
            self._parse_message(Text(""))
        names = [p["name"] for p in info.get("profiles") or []]
        select = self.query_one("#launch-profile", Select)
        if names != self._profiles:
            self._profiles = names
            select.set_options([(name, name) for name in names])
            if info.get("default_profile") in names:
                select.value = info["default_profile"]

    # --- parse as you type --------------------------------------------------------------------------
    @on(Input.Changed, "#link")
    def _typed(self, event: Input.Changed) -> None:
        if self._parse_timer is not None:
            self._parse_timer.stop()
        self.parsed = None
        self.query_one("#launch", Button).disabled = True
        if not event.value.strip():
            self._parse_message(Text(""))
            return
        self._parse_timer = self.set_timer(PARSE_DELAY, self._parse_now)

    def _parse_now(self) -> None:
        if self.available:
            self._parse(self.query_one("#link", Input).value.strip())

    @work(thread=True, exclusive=True, group="parse", exit_on_error=False)
    def _parse(self, text: str) -> None:
        try:
            parsed = self.connection.client.parse_link(text)
        except LocalhubError as err:
            self.ui(self._parsed, text, None, str(err))
        else:
            self.ui(self._parsed, text, parsed, None)

    def _parsed(self, text: str, parsed: dict | None, error: str | None) -> None:
        if text != self.query_one("#link", Input).value.strip():
            return  # typed on since; a newer parse is coming
        self.parsed = parsed
        if parsed is None:
            self._parse_message(Text(error or "This is not a link localhub can launch.", style="red"))
        else:
            self._parse_message(parse_table(parsed))
        self.query_one("#launch", Button).disabled = parsed is None or self.running

    def _parse_message(self, renderable) -> None:
        self.query_one("#parse", Static).update(renderable)

    # --- launch -------------------------------------------------------------------------------------
    @on(Input.Submitted, "#link")
    @on(Button.Pressed, "#launch")
    def action_launch(self) -> None:
        if not self.available:
            self.app.notify("Binder launches are not available from this hub yet.", severity="warning")
            return
        if self.running:
            self.app.notify("A launch is under way; wait for it to finish.", severity="warning")
            return
        link = self.query_one("#link", Input).value.strip()
        if not link:
            self.app.notify("Paste a Binder link first.", severity="warning")
            self.query_one("#link", Input).focus()
            return
        profile = self.query_one("#launch-profile", Select).value
        self._start(link, None if profile is Select.BLANK else profile, self.query_one("#rebuild", Checkbox).value)

    def _start(self, link: str, profile: str | None, rebuild: bool) -> None:
        self.running = True
        self.failed = None
        self.refresh_bindings()
        self.query_one("#launch-progress", ProgressBar).remove_class("failed")
        self.ready_url = None
        self.phases = []
        self.query_one("#launch", Button).disabled = True
        self.query_one("#ready", Static).update("")
        self.query_one("#phase-row").display = True
        self.query_one("#launch-progress", ProgressBar).update(total=100, progress=0)
        log = self.query_one("#build-log", RichLog)
        log.clear()
        log.write(Text(f"Launching {link}", style="bold"))
        log.focus()  # so `o` opens the result instead of typing into the link
        self._launch(link, profile, rebuild)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _launch(self, link: str, profile: str | None, rebuild: bool) -> None:
        worker = get_current_worker()
        outcome = None
        try:
            for event in self.connection.client.launch(link, profile=profile, rebuild=rebuild):
                if worker.is_cancelled:
                    return
                self.ui(self.show_event, event)
                if event.get("phase") in ("ready", "failed"):
                    outcome = event
        except LocalhubError as err:
            if outcome is None or outcome.get("phase") != "failed":  # the failed event says it already
                outcome = {"phase": "failed", "message": str(err)}
                self.ui(self.show_event, outcome)
        finally:
            self.ui(self._finished, outcome)

    def show_event(self, wire: dict) -> None:
        """Render one launch event (the Binder phases: waiting … ready | failed), its bar at the launch's own
        progress, which every event carries."""
        event = LaunchEvent.from_wire(wire)
        phase, message = event.phase, "" if event.tick else event.message
        if not self.phases or self.phases[-1] != phase:
            self.phases.append(phase)
        status = [part for part in (event.detail, event.elapsed is not None and f"{clock_text(event.elapsed)} elapsed",
                                    event.left is not None and f"about {clock_text(event.left)} left") if part]
        self.query_one("#phase", Static).update(Text.assemble((phase or "…", PHASE_STYLE.get(phase, "")),
                                                              (" · " + " · ".join(status) if status else "", "dim")))
        bar = self.query_one("#launch-progress", ProgressBar)
        bar.update(progress=max(bar.progress, event.progress * 100))
        if phase == "failed":
            bar.add_class("failed")
            self.failed = wire
            self.refresh_bindings()
            log = self.query_one("#build-log", RichLog)
            log.write(Text(message[:1].upper() + message[1:], style="bold red"))
            log.write(Text("r retries, b rebuilds from scratch" + (", l shows the whole build log"
                                                                   if event.fields.get("build_log") else ""),
                           style="dim"))
            message = ""
        if message:
            style = "bold red" if phase == "failed" else ""
            log = self.query_one("#build-log", RichLog)
            for line in message.splitlines():
                log.write(Text.from_ansi(line, style=style), width=log.scrollable_content_region.width or None)
        if phase == "ready" and event.fields.get("url"):
            self.ready_url = event.fields["url"]
            self.query_one("#ready", Static).update(
                Text.assemble(("Ready: ", "bold green"), (self.ready_url, "underline"), ("   o opens it", "dim")))

    def _finished(self, outcome: dict | None) -> None:
        self.running = False
        self.refresh_bindings()
        self.query_one("#launch", Button).disabled = self.parsed is None
        if outcome is None:
            self.app.notify("The launch stream ended without a result; see the Servers tab.", severity="warning")
        elif outcome.get("phase") == "failed":
            pass  # said once, in red at the end of the log; no toast over it
        else:
            self.app.notify(f"Ready: {self.ready_url}")
        self.app.poll()

    def check_action(self, action: str, parameters) -> bool | None:
        """Retry, Rebuild and the build log are offered (in the footer too) only after a failed launch."""
        if action in ("retry", "rebuild", "build_log"):
            return self.failed is not None and not self.running
        return True

    def _again(self, rebuild: bool) -> None:
        if self.running or self.failed is None:
            self.app.notify("Nothing to retry: no launch failed last.", severity="warning")
            return
        link = self.query_one("#link", Input).value.strip()
        profile = self.query_one("#launch-profile", Select).value
        self._start(link, None if profile is Select.BLANK else profile, rebuild)

    def action_retry(self) -> None:
        self._again(rebuild=False)

    def action_rebuild(self) -> None:
        self._again(rebuild=True)

    def action_build_log(self) -> None:
        spec = (self.failed or {}).get("spec")
        if not spec or not (self.failed or {}).get("build_log"):
            self.app.notify("No build log to show: the last launch did not fail while building.", severity="warning")
            return
        self.app.push_screen(LogScreen(f"Build log of {spec}", lambda client: client.build_log(spec=spec),
                                       file_stem="build-log"))

    def action_open(self) -> None:
        if not self.ready_url:
            self.app.notify("Nothing launched yet: paste a link and press Launch.", severity="warning")
            return
        self.app.open_link(self.ready_url)

    def action_new_link(self) -> None:
        link = self.query_one("#link", Input)
        link.value = ""
        link.focus()

    def palette(self) -> Iterator[PaletteEntry]:
        yield PaletteEntry("Launch a Binder link", "Paste a link on the Launch tab", self.app.show_launch)
        if self.ready_url:
            yield PaletteEntry("Open the launched server", self.ready_url, self.action_open)

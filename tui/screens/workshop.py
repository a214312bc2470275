"""The Workshop screen (key w, or the palette): a bundle import running now with its progress, the bundles
imported, and the class — this laptop's part in it, its environments (here or being fetched, with sizes and
rates), the laptops on the LAN and what each has, the material's version and where it went, and the work
handed in (teacher). Refreshed from the hub every two seconds; Escape goes back."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static

from .. import format as fmt
from ..connection import LocalhubError
from .base import HubMixin

NO_CLASS = ("This laptop is in no class. The teacher runs `localhub class serve` and shows a code; participants "
            "run `localhub class join CODE`.")
NO_BUNDLE = "No bundle imported yet: `localhub bundle import FILE`."


def progress_text(p: dict) -> str:
    text = f"{fmt.size(p.get('done', 0))} of {fmt.size(p.get('total', 0))} ({p.get('fraction', 0):.0%})"
    if p.get("rate"):
        text += f" at {fmt.size(p['rate'])}/s"
    if p.get("skipped"):
        text += f"; {fmt.size(p['skipped'])} already here"
    return text


def environments_table(envs: list[dict]) -> Table:
    table = Table(box=None, padding=(0, 2), header_style="bold", expand=True)
    for column, justify in (("Environment", "left"), ("Size", "right"), ("Here", "left")):
        table.add_column(column, justify=justify, no_wrap=column == "Size")
    for env in envs:
        if env.get("ready"):
            here = Text("ready", style="green")
        elif env.get("fetching"):
            here = Text("fetching " + progress_text(env["fetching"]), style="yellow")
        elif env.get("error"):
            here = Text(f"failed: {env['error']}", style="red")
        else:
            here = Text("not here yet", style="dim")
        table.add_row(fmt.short_spec(env["spec"], 48), fmt.size(env.get("size")), here)
    return table


def peers_table(peers: list[dict]) -> Table:
    table = Table(box=None, padding=(0, 2), header_style="bold", expand=True)
    for column in ("Laptop", "Role", "Address", "Has", "Fetching"):
        table.add_column(column)
    for peer in peers:
        fetching = ", ".join(f"{fmt.short_spec(s, 24)} {p.get('fraction', 0):.0%}"
                             for s, p in (peer.get("fetching") or {}).items())
        table.add_row(peer["name"], peer["role"], peer.get("address") or fmt.DASH,
                      str(len(peer.get("ready") or [])) + " environment(s)",
                      Text(fetching or ("" if peer.get("reachable") else "unreachable"),
                           style="" if peer.get("reachable") else "red"))
    return table


class WorkshopScreen(HubMixin, Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the tabs; q too"),
        Binding("q", "back", "Back", show=False),
        Binding("r", "refresh", "Refresh", tooltip="Ask the hub now"),
    ]

    SECTIONS = (("ws-import", "Bundle import", "", False), ("ws-bundles", "Bundles", NO_BUNDLE, True),
                ("ws-class", "Class", NO_CLASS, True), ("ws-envs", "Environments of the class", "", False),
                ("ws-peers", "Laptops on the LAN", "", False), ("ws-work", "Material and hand-ins", "", False))

    def compose(self) -> ComposeResult:
        yield Static("Workshop", classes="screen-title")
        with VerticalScroll():
            for ident, title, text, shown in self.SECTIONS:
                section = Static(text, id=ident, classes="section")
                section.border_title, section.display = title, shown
                yield section
                if ident == "ws-import":
                    bar = ProgressBar(id="ws-import-bar", total=1.0, show_eta=False)
                    bar.display = False
                    yield bar
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()
        self.set_interval(2.0, self.action_refresh)

    def action_back(self) -> None:
        self.app.pop_screen()

    @work(thread=True, group="workshop", exclusive=True, exit_on_error=False)
    def action_refresh(self) -> None:
        try:
            data = self.connection.client.workshop()
        except LocalhubError as err:
            self.ui(self._failed, str(err))
            return
        self.ui(self.show, data)

    def _failed(self, message: str) -> None:
        self.query_one("#ws-class", Static).update(Text(f"The hub did not answer: {message}", style="red"))

    def show(self, data: dict) -> None:
        imp = data.get("import")
        self.query_one("#ws-import").display = self.query_one("#ws-import-bar").display = bool(imp)
        if imp:
            progress = imp.get("progress") or {}
            self.query_one("#ws-import", Static).update(Text(
                f"{imp.get('bundle', '?')}: {imp.get('state')} — {progress_text(progress)}"
                + (f" — {imp['message']}" if imp.get("message") else "")))
            self.query_one("#ws-import-bar", ProgressBar).update(progress=progress.get("fraction", 0))
        bundles = data.get("bundles") or []
        self.query_one("#ws-bundles", Static).update(Text("\n".join(
            f"{b['name']} ({fmt.size(b.get('size'))}): " + ", ".join(l["spec"] for l in b["links"])
            for b in bundles)) if bundles else NO_BUNDLE)
        klass = data.get("class")
        for selector in ("#ws-envs", "#ws-peers", "#ws-work"):
            self.query_one(selector).display = bool(klass and klass.get("running", True) is not False)
        if not klass:
            self.query_one("#ws-class", Static).update(NO_CLASS)
            return
        if klass.get("running") is False:
            self.query_one("#ws-class", Static).update(Text(
                f"In a class as {klass['role']}, not running: {klass.get('error') or 'start the hub'}", style="red"))
            return
        head = f"{klass['name']} — {klass['role']} of class {klass['class'][:8]} on {klass['address']}"
        if klass.get("code"):
            head += f"\nClass code: {klass['code']}"
        if klass.get("preparing"):
            head += f"\nPreparing {klass['preparing']} for the class…"
        self.query_one("#ws-class", Static).update(Text(head))
        self.query_one("#ws-envs", Static).update(environments_table(klass.get("environments") or []))
        self.query_one("#ws-peers", Static).update(peers_table(klass.get("peers") or []))
        work_lines = []
        material = klass.get("material")
        work_lines.append(f"Material: {material['name']} version {material['version']}" if material
                          else "No material published yet.")
        work_lines += [f"  into {server}: {report}" for server, report in (klass.get("merges") or {}).items()]
        if klass.get("handins") is not None:
            work_lines.append(f"Handed in: {len(klass['handins'])}")
            work_lines += [f"  {h['at'][:19]}  {h['name']}: {h['path']}" for h in klass["handins"][-8:]]
        self.query_one("#ws-work", Static).update(Text("\n".join(work_lines)))

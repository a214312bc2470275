"""The Hub tab: where the hub listens, a sign-in link, how long it has run, the Docker engine under it,
the resource profiles and limits, how storage caps are enforced, and this desktop's lab pool."""

from __future__ import annotations

from typing import Iterator

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from .. import format as fmt
from ..connection import LocalhubError
from .base import HubMixin, PaletteEntry

POOL_TEXT = ("This desktop is in no lab. `localhub pool init` starts one (and prints a pairing code); "
             "`localhub pool join CODE` joins one. Lab desktops run servers on each other's idle time.")


def pool_table(pool: dict) -> Table:
    """This desktop's state in its lab, the peers it sees, and servers on either side."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", justify="right", min_width=14)
    grid.add_column()
    mine = pool.get("this_desktop") or {}
    grid.add_row("lab", Text(f"{pool.get('lab')} · this desktop {pool.get('node')} on {pool.get('address')}"))
    grid.add_row("this desktop", Text(f"{mine.get('state', '?')} — {mine.get('reason', '')}"))
    for peer in pool.get("peers") or []:
        live = peer.get("live")
        name = (peer.get("name") or "?").split(".")[0]
        if live is None:
            grid.add_row(name, Text(f"unreachable — {peer.get('error') or 'no answer yet'}", style="red"))
            continue
        figures = live.get("figures") or {}
        grid.add_row(name, Text(f"{live.get('state')} · {figures.get('free_cpus', 0):g} CPUs, "
                                f"{fmt.size(figures.get('mem_available'))} free · {live.get('slots', 0)} slot(s) · "
                                f"{len(live.get('guests') or [])} guest(s)"))
    for guest in mine.get("guests") or []:
        grid.add_row("guest here", Text(f"{guest.get('server')} — {guest.get('state')}"))
    for away in pool.get("away") or []:
        peer = (away.get("peer") or {}).get("name") or "?"
        grid.add_row("yours away", Text(f"{away.get('server')} on {peer} — {away.get('state')}"))
    return grid


def facts(rows: list[tuple[str, object]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", justify="right", min_width=14)
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, value if isinstance(value, Text) else Text(fmt.DASH if value is None else str(value)))
    return grid


def profiles_table(profiles: list[dict], default: str | None) -> Table:
    table = Table(box=None, padding=(0, 2), header_style="bold", expand=False)
    for column, justify in (("Profile", "left"), ("CPU", "right"), ("Memory", "right"),
                            ("Storage", "right"), ("", "left")):
        table.add_column(column, justify=justify)
    for p in profiles:
        name = p["name"] + (" (default)" if p["name"] == default else "")
        table.add_row(name, f"{p.get('cpu', 0):g}", fmt.size(p.get("memory")), fmt.size(p.get("storage")),
                      Text(p.get("description") or "", style="dim"))
    return table


class HubView(HubMixin, VerticalScroll):
    BINDINGS = [
        Binding("c", "copy_login", "Copy sign-in link", tooltip="Copy a one-time sign-in link to the clipboard"),
        Binding("b", "open_login", "Open sign-in link", tooltip="Open a one-time sign-in link in the browser"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("Connecting…", id="hub-address", classes="section")
        with Horizontal(id="hub-login", classes="section"):
            yield Button("Copy sign-in link", id="copy-login")
            yield Button("Open sign-in link", id="open-login")
            yield Static("", id="login-link")
        yield Static("", id="hub-engine", classes="section")
        yield Static("", id="hub-profiles", classes="section")
        yield Static("", id="hub-storage", classes="section")
        yield Static(POOL_TEXT, id="hub-pool", classes="section placeholder")

    def on_mount(self) -> None:
        titles = {"#hub-address": "Hub", "#hub-login": "Sign in", "#hub-engine": "Docker engine",
                  "#hub-profiles": "Profiles and limits", "#hub-storage": "Storage", "#hub-pool": "Pool"}
        for selector, title in titles.items():
            self.query_one(selector).border_title = title

    def show(self, info: dict) -> None:
        now = self.app.clock().timestamp()
        uptime = now - info["started"] if info.get("started") else info.get("uptime")
        self.query_one("#hub-address", Static).update(facts([
            ("address", Text(info.get("url") or fmt.DASH, style="bold")),
            ("user", info.get("user")),
            ("version", f"localhub {info.get('version', '?')}"),
            ("up for", fmt.duration(uptime)),
            ("state dir", info.get("state_dir")),
            ("instance", info.get("instance")),
        ]))
        engine = info.get("engine") or {}
        self.query_one("#hub-engine", Static).update(facts([
            ("address", engine.get("address")),
            ("Docker", f"{engine.get('version', '?')} (API {engine.get('api_version', '?')})"),
            ("system", engine.get("os")),
            ("cgroups", f"v{engine.get('cgroup_version', '?')}"),
            ("storage driver", engine.get("storage_driver")),
            ("CPUs · memory", f"{engine.get('cpus', '?')} · {fmt.size(engine.get('memory'))}"),
        ]))
        limits = info.get("limits") or {}
        limit_text = Text(
            f"Up to {limits.get('max_named_servers', '?')} named servers, names up to "
            f"{limits.get('server_name_max_length', '?')} characters; idle servers stop after "
            f"{fmt.duration(limits.get('idle_timeout'))} (their files are kept).", style="dim")
        profiles = Table.grid()
        profiles.add_row(profiles_table(info.get("profiles") or [], info.get("default_profile")))
        profiles.add_row(limit_text)
        self.query_one("#hub-profiles", Static).update(profiles)
        text = info.get("storage_enforcement_text") or fmt.DASH
        self.query_one("#hub-storage", Static).update(Text(text[:1].upper() + text[1:] + "."))
        pool = self.query_one("#hub-pool", Static)
        pool.update(pool_table(info["pool"]) if info.get("pool") else POOL_TEXT)
        pool.set_class(not info.get("pool"), "placeholder")

    # --- sign-in link ------------------------------------------------------------------------------
    @on(Button.Pressed, "#copy-login")
    def action_copy_login(self) -> None:
        self._login_link("copy")

    @on(Button.Pressed, "#open-login")
    def action_open_login(self) -> None:
        self._login_link("open")

    @work(thread=True, group="login-link", exit_on_error=False)
    def _login_link(self, then: str) -> None:
        try:
            link = self.connection.client.login_link()
        except LocalhubError as err:
            self.notify_error(str(err))
        else:
            self.ui(self._got_link, link, then)

    def _got_link(self, link: str, then: str) -> None:
        self.query_one("#login-link", Static).update(Text(link, style="underline"))
        if then == "copy":
            self.app.copy_to_clipboard(link)
            self.app.notify("Sign-in link copied (it works once).")
        else:
            self.app.open_link(link)

    def palette(self) -> Iterator[PaletteEntry]:
        yield PaletteEntry("Copy a sign-in link", "One-time link for the browser", self.action_copy_login)
        yield PaletteEntry("Open a sign-in link in the browser", "One-time link", self.action_open_login)

"""Ask where to save some text, then save it there without ever replacing an existing file: a name that
is taken, a folder that does not exist or cannot be written is said in the dialog, which stays open."""

from __future__ import annotations

import os
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from localhub.errors import shown


def save_new_file(path: Path, text: str) -> str | None:
    """Write `text` to a file that must not exist yet; the reason in one sentence when it cannot."""
    if not path.name:
        return "Give the file a name."
    try:
        with open(path, "x", encoding="utf-8") as f:  # "x": never replace someone's file
            f.write(text)
    except FileExistsError:
        return f"{shown(str(path))} exists already; choose another name (nothing was replaced)."
    except IsADirectoryError:
        return f"{shown(str(path))} is a folder; add a file name."
    except FileNotFoundError:
        return f"There is no folder {shown(str(path.parent))}."
    except OSError as err:
        return f"Cannot write {shown(str(path))}: {err.strerror}."
    return None


class SaveDialog(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#save-path"

    def __init__(self, title: str, default: Path, text: str, **kwargs):
        super().__init__(**kwargs)
        self.title_text = title
        self.default = default
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Label("File")
            yield Input(str(self.default), id="save-path")
            yield Static("", id="save-error", classes="error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="save-cancel")
                yield Button("Save", id="save-ok", variant="primary")

    @on(Input.Submitted, "#save-path")
    @on(Button.Pressed, "#save-ok")
    def save(self) -> None:
        raw = self.query_one("#save-path", Input).value.strip()
        path = Path(os.path.expanduser(raw)) if raw else Path()
        if path and not path.is_absolute():
            path = Path.cwd() / path
        error = save_new_file(path, self.text) if raw else "Give the file a name."
        if error:
            self.query_one("#save-error", Static).update(error)
            return
        self.dismiss(path)

    @on(Button.Pressed, "#save-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

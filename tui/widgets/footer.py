"""The footer of key hints, with `q Quit` kept in sight: it sits at the right beside the palette's
`^p`, so when the hints of a narrow terminal do not all fit, the least important ones are cut, never the
way out."""

from __future__ import annotations

from textual.containers import Horizontal
from textual.widgets import Footer


class KeyFooter(Footer):
    DEFAULT_CSS = """
    KeyFooter .-kept {
        dock: right;
        width: auto;
        height: 1;
        background: transparent;
    }
    KeyFooter .-kept FooterKey.-command-palette {
        dock: none;
    }
    """

    def compose(self):
        keys = list(super().compose())
        kept = [k for k in keys if getattr(k, "action", None) in ("quit", "app.quit")]
        kept += [k for k in keys if k.has_class("-command-palette")]
        yield from (k for k in keys if k not in kept)
        if kept:
            yield Horizontal(*kept, classes="-kept")

    def on_resize(self) -> None:
        self.compact = self.size.width < 100  # less space between hints: more of them fit

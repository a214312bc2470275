"""The localhub terminal UI (Textual). A client of the daemon: imports localhub.client and nothing deeper."""

"""The one exception type users see: a plain sentence that says what went wrong and how to fix it."""


class LocalhubError(Exception):
    """An error meant for the user. `str(err)` is one clear sentence; the CLI prints it without a traceback."""

    exit_code = 1


class NotRunning(LocalhubError):
    """No hub runs for the state directory the user addressed."""

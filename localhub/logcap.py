"""A log file that cannot fill the disk: what JupyterHub and its proxy print goes through here.

A flood of requests (refused or not) makes a line each, and a failing loop a traceback each: 546 MB of log
in a minute was seen. Here the file is rotated at `size` bytes with one older file kept (so at most twice
`size` on disk), and beyond `rate` lines a second the surplus is counted and reported in one line instead
of written.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SIZE = 20 * 2**20  # bytes per file; the file and one rotated copy are kept
RATE = 200  # lines a second, averaged over a few seconds
BURST = 2000
LONGEST_LINE = 16 * 2**10


class CappedLog:
    def __init__(self, path: Path, size: int = SIZE, rate: float = RATE, burst: int = BURST, clock=time.monotonic):
        self.path, self.size, self.rate, self.burst, self.clock = Path(path), size, rate, burst, clock
        self._tokens = float(burst)
        self._last = clock()
        self._dropped = 0
        self._partial = b""
        self._file = self._open()

    def _open(self):
        return os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")

    def feed(self, data: bytes) -> None:
        """Bytes as the process wrote them; whole lines are written (or counted), a partial one waits."""
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        if len(self._partial) > LONGEST_LINE:
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            self._line(line)
        self._file.flush()

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = b""
        self._report_dropped()
        self._file.close()

    def _line(self, line: bytes) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            self._dropped += 1
            return
        self._tokens -= 1
        self._report_dropped()
        if len(line) > LONGEST_LINE:
            line = line[:LONGEST_LINE] + b" [... cut]"
        self._write(line + b"\n")

    def _report_dropped(self) -> None:
        if self._dropped:
            dropped, self._dropped = self._dropped, 0
            self._write(f"[localhub] {dropped} log lines were left out: more than {self.rate:g} a second "
                        "(a flood of requests or a failing loop)\n".encode())

    def _write(self, data: bytes) -> None:
        if self._file.tell() + len(data) > self.size:
            self._file.close()
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            self._file = self._open()
        self._file.write(data)

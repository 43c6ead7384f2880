"""A progress bar for long commands, on stderr (stdout may carry the data).

On a terminal it redraws one line; into a file or pipe it writes a line at
every tenth of the way, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

REDRAW_SECONDS = 0.1
WIDTH = 30


class ProgressBar:
    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.drawn_at = 0.0
        self.tenths_written = -1
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        if self.live:
            if time.monotonic() - self.drawn_at < REDRAW_SECONDS and done < total:
                return
            self.drawn_at = time.monotonic()
            filled = round(fraction * WIDTH)
            bar = "#" * filled + "." * (WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%} {done:,}/{total:,}")
        else:
            tenths = int(fraction * 10)
            if tenths == self.tenths_written:
                return
            self.tenths_written = tenths
            self.stream.write(f"{self.label}: {fraction:.0%} ({done:,} of {total:,})\n")
        self.shown = True
        self.stream.flush()

    def close(self) -> None:
        if self.live and self.shown:
            self.stream.write("\n")
            self.stream.flush()

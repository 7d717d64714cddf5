"""Progress logging from the parent process: count, percent, rate and ETA.

Workers never log progress (no tqdm in workers): the parent counts finished tasks and
writes a line to the log every few percent, at most every few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class Progress:
    """Log ``label: 40/100 (40%), 12.3/s, ETA 5.0s`` as work advances, then the total time.

    A line is logged when the done count reaches the next multiple of ``every_percent``
    and at least ``min_seconds`` have passed since the previous line (or the start); the
    last unit always logs ``label: 100/100 done in 8.1s (12.3/s)``.

    Args:
        total: number of units of work (tasks).
        label: what is being done, first word of each line.
        logger: where lines go (INFO).
        every_percent: percent step between lines.
        min_seconds: least time between two lines, seconds.
        clock: monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        total: int,
        label: str,
        logger: logging.Logger,
        every_percent: float = 5,
        min_seconds: float = 2.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.logger = logger
        self.every_percent = every_percent
        self.min_seconds = min_seconds
        self.clock = clock
        self.done = 0
        self.start = clock()
        self._last_log = self.start
        self._next_percent = every_percent

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more finished units and log a line if one is due."""
        self.done += n
        now = self.clock()
        elapsed = now - self.start
        rate = f"{_rate(self.done / elapsed)}/s" if elapsed > 0 else None
        if self.done >= self.total:
            line = f"{self.label}: {self.done}/{self.total} done in {_duration(elapsed)}"
            self.logger.info("%s", line if rate is None else f"{line} ({rate})")
            return
        percent = 100 * self.done / self.total
        if percent < self._next_percent or now - self._last_log < self.min_seconds:
            return
        self._last_log = now
        self._next_percent = (percent // self.every_percent + 1) * self.every_percent
        line = f"{self.label}: {self.done}/{self.total} ({percent:.0f}%)"
        if rate is not None:
            eta = (self.total - self.done) * elapsed / self.done
            line += f", {rate}, ETA {_duration(eta)}"
        self.logger.info("%s", line)


def _rate(per_second: float) -> str:
    """A rate: one decimal from 1/s up, two significant digits below."""
    return f"{per_second:.1f}" if per_second >= 1 else f"{per_second:.2g}"


def _duration(seconds: float) -> str:
    """``8.1s``, ``2m05s`` or ``1h02m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"

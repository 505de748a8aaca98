"""How a face hears that a command is waiting for a store another process is writing.

Kept apart from the store so that installing the hook loads nothing heavy (`funnelscope --help`
stays fast); the store's waiting loop is store/locking.py.
"""

from __future__ import annotations

from collections.abc import Callable

WaitReporter = Callable[[str, float, float], None]
"""Called while waiting with (what holds the store, seconds waited, seconds allowed)."""

_reporter: WaitReporter | None = None


def report_waits_to(reporter: WaitReporter | None) -> None:
    """Install how waits are shown (the CLI prints a line on stderr); None: silently."""
    global _reporter
    _reporter = reporter


def report_wait(holder: str, waited: float, allowed: float) -> None:
    """Tell the installed reporter, if any."""
    if _reporter is not None:
        _reporter(holder, waited, allowed)

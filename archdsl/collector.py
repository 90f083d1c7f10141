"""Pausing Python's cycle collector where archdsl makes many objects that all stay alive.

Reference counting still frees memory while it is paused; the collector only looks for cycles, and
re-scanning a growing heap of live objects finds none: 30-40% of the time of a 10,000-layer compile
(bench/scaling.py), and 1% of a whole `archdsl summary` process (3.7 M of 336 M instructions), whose
imports create the classes, functions and layer registry it keeps to the end (bench/summary_speed.py).
"""

from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def gc_paused():
    """The collector off inside, back on afterwards if it was on before (nested pauses do not switch it on)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

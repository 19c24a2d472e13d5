"""Tests that send SIGINT pass even when this run inherited SIGINT ignored.

A job started in the background (``cmd &``, ``nohup``) gets SIGINT set to ignore, and then
Python never raises KeyboardInterrupt. Those tests install Python's own handler themselves
(the ``default_sigint`` fixture); here a few of them run in a pytest whose SIGINT is ignored.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
INTERRUPTING = [
    "client/test_stream.py::test_keyboard_interrupt_during_a_blocked_read",
    "magics/test_prompt.py::test_keyboard_interrupt_mid_stream",
    "widgets/test_pane.py::test_kernel_interrupt_keeps_the_partial_answer",
    "faults/test_interrupts.py::test_mid_pull",
    "sandbox/test_cli_speed.py::test_cli_prints_url_serves_and_stops_on_sigint",
]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_interrupt_tests_pass_with_sigint_ignored_by_the_parent() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         *(str(TESTS / t) for t in INTERRUPTING)],
        capture_output=True, text=True, timeout=240, cwd=TESTS.parent,
        preexec_fn=_ignore_sigint,  # noqa: PLW1509 - the point of the test: inherit SIG_IGN
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert f"{len(INTERRUPTING)} passed" in out.stdout

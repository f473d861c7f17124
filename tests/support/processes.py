"""Killing a process mid-run, as a crash or an operator would."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Callable


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], timeout_s: float) -> None:
    """SIGKILL `process` as soon as `ready()` holds; fail if it exits first or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, "the process never got far enough to be killed mid-run"
        assert process.poll() is None, f"the process ended (code {process.returncode}) before it could be killed"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)

"""hia: align answers of black-box chat models to goals, and train the reward models it uses.

One module per group of commands: align.py (`hia align`), data.py (`batch`, `export-pairs`),
train.py (`train-reference`, `calibrate`, `train-preference`), serve.py (`serve`, `profiles`).
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from typing import Sequence

from hia.cli import align, data, serve, train
from hia.core.tracing import configure_from_env
from hia.errors import HiaError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hia", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (align, data, train, serve):
        module.register(sub)
    args = parser.parse_args(argv)
    # Warnings (a goal the reference cannot judge, say) read as the tool's own notes, not tracebacks.
    warnings.formatwarning = lambda message, category, *_: f"hia: warning: {message}\n"
    # SIGTERM unwinds like Ctrl-C, so managed local servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    configure_from_env()  # spans are exported when OTEL_* variables say where (the otel extra)
    try:
        return args.run(args)
    except HiaError as exc:
        print(f"hia: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

"""The console script's entry point: as small as possible, so Ctrl-C while the CLI is
still being imported ends with one line and exit code 130, not a traceback."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from artver.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("artver: interrupted\n")
        return 130
    return cli_main()

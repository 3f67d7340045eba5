"""``hallctl check-config FILE``: validate a hall file before the daemon is restarted with it.

Operations staff run this after editing; it prints either a one-line summary or every problem
(``FILE: KEY: MESSAGE``, one per line, on stderr) and returns the process exit status.
"""

from __future__ import annotations

import sys
from collections.abc import Collection

from controller.config.errors import ConfigError, format_problems
from controller.config.loader import load_config
from controller.config.model import HallConfig

__all__ = ["check_config_main", "format_problems", "summary"]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def summary(config: HallConfig) -> str:
    """The line printed for a valid file."""
    return (
        f"OK: hall {config.hall.id!r}: {_count(len(config.services), 'service')}, "
        f"{_count(len(config.windows), 'window')}, {_count(len(config.devices), 'device')}"
    )


def check_config_main(path: str, *, protocols: Collection[str] | None = None) -> int:
    """Print the verdict on ``path``; 0 when it is valid, 1 when it is not.

    Pass the codec registry's names as ``protocols`` to catch misspelt serial protocols too.
    """
    try:
        config = load_config(path, protocols=protocols)
    except ConfigError as error:
        print(format_problems(error), file=sys.stderr)
        return 1
    print(summary(config))
    return 0


if __name__ == "__main__":  # python -m controller.config.check FILE (until the CLI has it)
    if len(sys.argv) != 2:
        print("usage: python -m controller.config.check FILE", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(check_config_main(sys.argv[1]))

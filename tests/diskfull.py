"""A real small disk for store-failure tests: a tmpfs of a few MB, filled and freed on demand.

Mounting needs root (CAP_SYS_ADMIN): the CI runner and the development machines run the tests as
root. Where mounting is refused the fixture skips with the reason; the store's behaviour on a
full disk is then still covered by ``tests/controller/store/test_store_faults.py``, which
provokes a real ``SQLITE_FULL`` with ``PRAGMA max_page_count``.
"""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

FILLER = "filler.bin"


class SmallDisk:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def filler(self) -> Path:
        return self.path / FILLER

    def free_bytes(self) -> int:
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def fill(self) -> None:
        """Write a filler file until the file system says ENOSPC: not one block is left."""
        with open(self.filler, "ab", buffering=0) as out:
            chunk = b"\0" * 4096
            try:
                while True:
                    out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
        assert self.free_bytes() == 0

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def read_only(self, flag: bool) -> None:
        mode = "ro" if flag else "rw"
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True)


@contextmanager
def small_disk(size: str = "8m") -> Iterator[SmallDisk]:
    """A fresh tmpfs of ``size`` mounted on a temporary folder; unmounted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="hallctl-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield SmallDisk(folder)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()

"""Secret files (generated keys and passwords in the data folder), readable by their owner only.

Created with mode 0600 in the same system call that creates them, never written first and
chmod'ed after: between those two calls another local user could open the file and keep reading it.
"""

from __future__ import annotations

import os
from pathlib import Path


def create_secret_file(path: Path, value: str) -> None:
    """Write a new secret file, mode 0600 from the start; FileExistsError if it is there already."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)


def replace_secret_file(path: Path, value: str) -> None:
    """Write a secret file anew (a reset): a fresh 0600 file moved over the old one."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)
    create_secret_file(temporary, value)
    temporary.replace(path)

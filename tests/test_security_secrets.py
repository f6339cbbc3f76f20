"""Issue 12, Low: secret files are created 0600 (not written, then chmod'ed), and generated passwords
are printed when they are made or reset, not at every start."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detection.management.commands.bootstrap_demo import Command
from trafficsite import launcher


@pytest.fixture
def open_umask_and_no_chmod(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The mode a file gets when it is created: umask 000, and chmod after the fact does nothing."""
    monkeypatch.setattr(Path, "chmod", lambda self, mode, **kwargs: None)
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_launcher_creates_its_secret_files_0600(
    open_umask_and_no_chmod: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    monkeypatch.setattr(launcher, "data_dir", lambda: tmp_path)
    key = launcher.secret_key(tmp_path)
    assert len(key) >= 50 and mode(tmp_path / "secret_key") == 0o600
    launcher.stored_secret("flower_password")
    assert mode(tmp_path / "flower_password") == 0o600


@pytest.mark.django_db
def test_the_operator_password_is_shown_when_made_or_reset_only(
    open_umask_and_no_chmod: None, tmp_path: Path, settings: Any
) -> None:
    settings.DATA_DIR = tmp_path
    command = Command()
    _, first = command.ensure_operator("operator", reset=False)
    assert len(first) >= 16 and mode(tmp_path / "operator_password") == 0o600
    _, again = command.ensure_operator("operator", reset=False)
    assert first not in again and "as printed when it was made" in again
    _, reset = command.ensure_operator("operator", reset=True)
    assert reset not in (first, again) and len(reset) >= 16
    assert (tmp_path / "operator_password").read_text() == reset and mode(tmp_path / "operator_password") == 0o600

"""Typed readers for settings that come from environment variables, and the local-mode file of ./run.

Every reader fails loudly with the variable's name and the accepted forms: a typo in a deployment
file must stop the process at start-up, not silently fall back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _read(name: str, default: T, parse: Callable[[str], T]) -> T:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return parse(raw.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"Environment variable {name}={raw!r}: {exc}") from None


def _parse_bool(raw: str) -> bool:
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def env_bool(name: str, default: bool) -> bool:
    return _read(name, default, _parse_bool)


def env_str(name: str, default: str) -> str:
    return _read(name, default, str)


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("expected an integer") from None
        _check_range(value, minimum, maximum)
        return value

    return _read(name, default, parse)


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
        _check_range(value, minimum, maximum)
        return value

    return _read(name, default, parse)


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks around items and empty items are dropped."""
    return _read(name, default, lambda raw: [item.strip() for item in raw.split(",") if item.strip()])


# The mark of every placeholder secret in compose/.env.example: a value still holding it was copied
# and never changed, and is public (it is in this repository).
PLACEHOLDER_MARK = "change-me"


def refuse_placeholder(name: str, value: str) -> None:
    if PLACEHOLDER_MARK in value.lower():
        raise ImproperlyConfigured(
            f"{name} still holds the placeholder of compose/.env.example ({PLACEHOLDER_MARK!r}); set a real secret."
        )


def env_secret(name: str, *, required: bool, fallback: str = "") -> str:
    """A secret value, from ``NAME`` or else from the file that ``NAME_FILE`` names (Docker and
    Kubernetes secrets are files, and a file keeps the value out of the process environment).

    Its content never appears in an error message; a placeholder is refused."""
    raw = os.environ.get(name, "").strip()
    source = name
    if not raw and (path := os.environ.get(f"{name}_FILE", "").strip()):
        source = f"{name}_FILE ({path})"
        try:
            raw = Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{source}: cannot read the secret file: {exc.strerror}") from None
        if not raw:
            raise ImproperlyConfigured(f"{source}: the secret file is empty")
    if raw:
        refuse_placeholder(source, raw)
        return raw
    if required:
        raise ImproperlyConfigured(
            f"Environment variable {name} must be set, or {name}_FILE to a file that holds it (a secret; see README)."
        )
    return fallback


def _check_range(value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ValueError(f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum}")


# --- local mode: what ./run chose, for the commands a user runs next to it ----------------------
# `./run` (trafficsite/launcher.py) picks a secret key file, the embedded Redis socket and plain HTTP
# for localhost, and passes them to its children in the environment. A command typed in another
# shell (`.venv/bin/python manage.py evaluate ...`) has none of them, so the launcher also writes them
# to LOCAL_ENV_FILE in the data folder and settings load that file for the variables that are unset.
# Only these names are honoured: the file cannot switch anything else, and a deployment (compose)
# never has the file, since only ./run writes it.
LOCAL_ENV_FILE = "local.env"
LOCAL_ENV_NAMES = frozenset({"DJANGO_SECRET_KEY_FILE", "DJANGO_HTTPS", "DJANGO_ALLOWED_HOSTS", "REDIS_URL"})
_LOCAL_ENV_HEADER = (
    "# Written by ./run (trafficsite/launcher.py) at every start: the local mode it chose.\n"
    "# Settings read it for variables that are not set; a variable set in the environment wins.\n"
)


def write_local_env(data_dir: Path, values: dict[str, str]) -> Path:
    """Record ``values`` (names from LOCAL_ENV_NAMES) for later commands; replaces the previous file."""
    unknown = sorted(set(values) - LOCAL_ENV_NAMES)
    if unknown:
        raise ValueError(f"not a local-mode variable: {', '.join(unknown)}")
    path = data_dir / LOCAL_ENV_FILE
    partial = path.with_suffix(".tmp")
    partial.write_text(_LOCAL_ENV_HEADER + "".join(f"{name}={value}\n" for name, value in sorted(values.items())))
    partial.chmod(0o600)
    partial.replace(path)  # atomic: a command started meanwhile reads the old file or the new one
    return path


def load_local_env(data_dir: Path) -> list[str]:
    """Set the unset variables recorded by ./run in ``data_dir``; the names it set, in file order.

    DJANGO_SECRET_KEY_FILE names the file that holds the key; the key itself goes to
    DJANGO_SECRET_KEY (unless that is set), so the settings and any child process see one variable.
    """
    path = data_dir / LOCAL_ENV_FILE
    if not path.is_file():
        return []
    applied: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or name not in LOCAL_ENV_NAMES:
            raise ImproperlyConfigured(
                f"{path}, line {number}: expected NAME=value with NAME one of {', '.join(sorted(LOCAL_ENV_NAMES))}; "
                "delete the file and start ./run again"
            )
        if name == "DJANGO_SECRET_KEY_FILE":
            if os.environ.get("DJANGO_SECRET_KEY"):
                continue
            try:
                key = Path(value).read_text().strip()
            except OSError as exc:
                raise ImproperlyConfigured(f"{path}, line {number}: cannot read the secret key file: {exc}") from None
            os.environ["DJANGO_SECRET_KEY"] = key
            applied.append("DJANGO_SECRET_KEY")
        elif name not in os.environ:
            os.environ[name] = value
            applied.append(name)
    return applied

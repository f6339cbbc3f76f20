"""Camera source URLs: what is accepted, and how each kind is opened.

Accepted: ``rtsp://`` / ``rtsps://`` streams, ``http(s)://`` MJPEG streams, and local video
files (a plain absolute path or ``file://``) under one of ``settings.CAMERA_FILE_ROOTS``, so that
an admin account cannot be used to read arbitrary files of the server.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from core.netguard import AddressRefused, IPNetwork, check_in_networks, parse_networks
from core.redact import mask_url

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".m4v", ".webm", ".ts", ".mjpeg", ".mjpg"}


class SourceKind(enum.StrEnum):
    RTSP = "rtsp"
    HTTP = "http"
    FILE = "file"


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    url: str  # what OpenCV opens: the stream URL, or the resolved file path

    @property
    def masked(self) -> str:
        return mask_url(self.url)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int | None:
        return urlsplit(self.url).port


def allowed_camera_networks() -> list[IPNetwork]:
    """CAMERA_ALLOWED_NETWORKS as address blocks (empty: streams may come from any address)."""
    return parse_networks(settings.CAMERA_ALLOWED_NETWORKS, setting="CAMERA_ALLOWED_NETWORKS")


def parse_source(raw: str) -> Source:
    """Validate a source URL and say precisely what is wrong with it."""
    value = raw.strip()
    if not value:
        raise ValidationError("Enter the camera's stream URL or the path of a video file.", code="empty")
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValidationError("The source must not contain spaces or control characters.", code="whitespace")
    if value.startswith("/"):
        return _file_source(Path(value))
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValidationError("file:// URLs must point to this machine (file:///path/to/video.mp4).", code="host")
        return _file_source(Path(unquote(parts.path)))
    if scheme in ("rtsp", "rtsps", "http", "https"):
        if not parts.hostname:
            raise ValidationError(f"The {scheme}:// URL has no host name.", code="host")
        try:
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise ValidationError(
                f"The port of {mask_url(value)} is not a number from 0 to 65535.", code="port"
            ) from None
        kind = SourceKind.RTSP if scheme.startswith("rtsp") else SourceKind.HTTP
        return Source(kind, value)
    if not scheme:
        raise ValidationError(
            "Give a full URL (rtsp://host/stream, http://host/video.mjpg) or an absolute file path.",
            code="relative",
        )
    raise ValidationError(
        f"Unsupported scheme {scheme!r}: use rtsp, rtsps, http, https, or a local video file.", code="scheme"
    )


def _file_source(path: Path) -> Source:
    if not path.is_absolute():
        raise ValidationError("A video file must be given by its absolute path.", code="relative")
    resolved = path.resolve()
    roots = [Path(root).resolve() for root in settings.CAMERA_FILE_ROOTS]
    if not any(resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise ValidationError(
            f"Video files must lie under one of the allowed folders ({allowed}); set CAMERA_FILE_ROOTS to add one.",
            code="outside_roots",
        )
    if resolved.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValidationError(
            f"{resolved.name} does not look like a video file (expected one of {', '.join(sorted(VIDEO_SUFFIXES))}).",
            code="suffix",
        )
    if not resolved.is_file():
        raise ValidationError(f"No such video file: {resolved}", code="missing")
    return Source(SourceKind.FILE, str(resolved))


def validate_source_url(value: str) -> None:
    """Model-field validator; with CAMERA_ALLOWED_NETWORKS set, the stream's host must resolve into them."""
    source = parse_source(value)
    if source.kind is not SourceKind.FILE:
        try:
            check_in_networks(source.host, source.port, allowed_camera_networks())
        except AddressRefused as exc:
            raise ValidationError(str(exc), code="network") from None

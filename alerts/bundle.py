"""Evidence bundles: everything about an alert that someone outside needs, in one signed ZIP.

Each alert is a folder ``alert-<id>/`` with its clip, keyframe and crop, ``evidence.json`` (the
event, the rule's measurements, the camera's calibration and zones with their hash, the rule
thresholds in force, the LLM verdict with its prompt version and cost, the review history),
``manifest.json`` (SHA-256 and size of every other file) and ``manifest.sig`` (the installation's
Ed25519 signature of the manifest, base64). ``public_key.pem`` at the top names the signer.

The ZIP is written as a stream (:func:`stream_zip`): entries go out as they are made, the clip in
chunks, so exporting many alerts never holds the archive in memory. ``verify(path)`` checks a
bundle: the signature of each manifest and each file against it, and that nothing was added.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from alerts import signing
from alerts.models import Alert
from cameras.config import rule_settings

FORMAT = "trafficsite-evidence-bundle/1"
CHUNK = 256 * 1024
SIGNED = ("manifest.json", "manifest.sig")


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def calibration_hash(calibration: Any, zones: Any) -> str:
    """Names the exact road geometry the measurements were made with (canonical JSON, SHA-256)."""
    return hashlib.sha256(canonical({"calibration": calibration, "zones": zones})).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def evidence(alert: Alert) -> dict[str, Any]:
    camera = alert.camera
    analysis = alert.analysis
    clip: dict[str, Any] | None = None
    if alert.clip and alert.clip_started_at:
        start = alert.clip_started_at
        clip = {
            "file": "clip.mp4",
            "started_at": _iso(start),
            "duration_s": alert.clip_duration_s,
            "event_start_in_clip_s": round((alert.event_started_at - start).total_seconds(), 3),
            "detection_in_clip_s": round((alert.detected_at - start).total_seconds(), 3),
            "note": alert.clip_note,
        }
    return {
        "alert": {
            "id": alert.pk,
            "event_key": alert.idempotency_key,
            "event_type": alert.event_type,
            "risk_types": alert.risk_types,
            "severity": alert.severity,
            "confidence": alert.confidence,
            "track_ids": alert.track_ids,
            "event_started_at": _iso(alert.event_started_at),
            "detected_at": _iso(alert.detected_at),
            "created_at": _iso(alert.created_at),
            "verification": alert.verification,
            "description": alert.description,
        },
        # As the rule reported them; a value's uncertainty is given where the rule computes one.
        "measurements": alert.measurements,
        "clip": clip or {"file": None, "status": alert.clip_status, "note": alert.clip_note},
        "camera": {
            "id": camera.pk,
            "name": camera.name,
            "speed_limit_kmh": camera.speed_limit_kmh,
            "calibration": camera.calibration,
            "zones": camera.zones,
            "calibration_hash": calibration_hash(camera.calibration, camera.zones),
            # The settings are the camera's at export time; this says whether they changed since the alert.
            "settings_changed_after_alert": camera.updated_at > alert.detected_at,
            "settings_updated_at": _iso(camera.updated_at),
            "rule_thresholds": rule_settings(camera.rules, alert.event_type),
            "pre_roll_s": camera.pre_roll_s,
            "post_roll_s": camera.post_roll_s,
        },
        "llm": None
        if analysis is None
        else {
            "status": analysis.status,
            "reason": analysis.reason,
            "model": analysis.model,
            "prompt_version": analysis.prompt_version,
            "verdict": analysis.verdict,
            "tokens_in": analysis.tokens_in,
            "tokens_out": analysis.tokens_out,
            "tokens_image": analysis.tokens_image,
            "cost": analysis.cost,
            "request_id": analysis.request_id,
        },
        "review": {
            "status": alert.review_status,
            "by": alert.reviewed_by.get_username() if alert.reviewed_by else None,
            "at": _iso(alert.reviewed_at),
            "note": alert.review_note,
            "history": [
                {
                    "status": r.status,
                    "previous_status": r.previous_status,
                    "by": r.reviewer.get_username() if r.reviewer else None,
                    "at": _iso(r.at),
                    "note": r.note,
                }
                # AlertReview (append-only), oldest first: the order in which it was decided.
                for r in alert.reviews.select_related("reviewer").order_by("at", "pk")
            ],
        },
    }


class _Sink(io.RawIOBase):
    """A write-only, unseekable file: zipfile writes into it, the response takes what was written."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


@dataclass
class _Folder:
    name: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)


def _write(archive: zipfile.ZipFile, sink: _Sink, folder: _Folder, name: str, source: IO[bytes] | bytes
           ) -> Iterator[bytes]:  # fmt: skip
    digest, size = hashlib.sha256(), 0
    info = zipfile.ZipInfo(f"{folder.name}/{name}", date_time=timezone.now().timetuple()[:6])
    # Video and JPEG do not compress; JSON does.
    info.compress_type = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
    with archive.open(info, "w", force_zip64=True) as entry:
        stream = io.BytesIO(source) if isinstance(source, bytes) else source
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            entry.write(chunk)
            yield sink.take()
    yield sink.take()
    folder.files[name] = {"sha256": digest.hexdigest(), "bytes": size}


def _alert_entries(archive: zipfile.ZipFile, sink: _Sink, alert: Alert, exported_by: str) -> Iterator[bytes]:
    folder = _Folder(f"alert-{alert.pk}")
    for name, field_file in (("clip.mp4", alert.clip), ("keyframe.jpg", alert.keyframe), ("crop.jpg", alert.crop)):
        if field_file:
            with field_file.open("rb") as handle:
                yield from _write(archive, sink, folder, name, handle)
    yield from _write(
        archive, sink, folder, "evidence.json", json.dumps(evidence(alert), indent=2, default=str).encode()
    )
    manifest = canonical({
        "format": FORMAT,
        "alert_id": alert.pk,
        "exported_at": timezone.now().isoformat(),
        "exported_by": exported_by,
        "signing_key": signing.fingerprint(),
        "files": folder.files,
    })  # fmt: skip
    yield from _write(archive, sink, folder, "manifest.json", manifest)
    yield from _write(archive, sink, folder, "manifest.sig", base64.b64encode(signing.sign(manifest)))


def stream_zip(alerts: Iterable[Alert], *, exported_by: str) -> Iterator[bytes]:
    """The bundle of these alerts as ZIP bytes, piece by piece (for a StreamingHttpResponse)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w") as archive:  # an unseekable sink is supported
        info = zipfile.ZipInfo("public_key.pem", date_time=timezone.now().timetuple()[:6])
        archive.writestr(info, signing.public_pem())
        yield sink.take()
        for alert in alerts:
            yield from _alert_entries(archive, sink, alert, exported_by)
    yield sink.take()


def bundle_queryset(ids: Iterable[int]) -> QuerySet[Alert]:
    # iterator(): rows are fetched in chunks, so a large selection is never all in memory either.
    return Alert.objects.filter(pk__in=list(ids)).select_related("camera", "analysis", "reviewed_by").order_by("pk")


def streaming_response(ids: list[int], exported_by: str) -> StreamingHttpResponse:
    """The download of these alerts' bundle (admin action and API), streamed as it is made."""
    ids = sorted(set(ids))
    alerts = bundle_queryset(ids).iterator(chunk_size=50)
    response = StreamingHttpResponse(stream_zip(alerts, exported_by=exported_by), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename(ids)}"'
    return response


def filename(alerts: list[int]) -> str:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return (
        f"evidence-alert-{alerts[0]}-{stamp}.zip" if len(alerts) == 1 else f"evidence-{len(alerts)}-alerts-{stamp}.zip"
    )


# --- verification -------------------------------------------------------------------------------------------


class BundleInvalid(Exception):
    """The bundle fails a check; the message says which file and how."""


@dataclass(frozen=True)
class Verified:
    alert_id: int
    files: int
    signing_key: str


def verify(source: str | IO[bytes], key: Ed25519PublicKey | None = None) -> list[Verified]:
    """Check every alert folder of a bundle against ``key`` (default: this installation's)."""
    key = key or signing.private_key().public_key()
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile as exc:
        raise BundleInvalid(f"not a readable ZIP: {exc}") from None
    with archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        folders = sorted({n.split("/", 1)[0] for n in names if "/" in n})
        if not folders:
            raise BundleInvalid("no alert folder in the bundle")
        stray = [n for n in names if "/" not in n and n != "public_key.pem"]
        if stray:
            raise BundleInvalid(f"files outside any alert folder: {', '.join(stray)}")
        return [_verify_folder(archive, folder, names, key) for folder in folders]


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except KeyError:
        raise BundleInvalid(f"{name} is missing") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:  # e.g. a CRC error: changed bytes
        raise BundleInvalid(f"{name} cannot be read: {exc}") from None


def _verify_folder(archive: zipfile.ZipFile, folder: str, names: list[str], key: Ed25519PublicKey
                   ) -> Verified:  # fmt: skip
    manifest_raw = _read(archive, f"{folder}/manifest.json")
    signature_raw = _read(archive, f"{folder}/manifest.sig")
    try:
        signature = base64.b64decode(signature_raw, validate=True)
    except ValueError:
        raise BundleInvalid(f"{folder}/manifest.sig is not base64") from None
    if not signing.verify(key, manifest_raw, signature):
        raise BundleInvalid(f"{folder}/manifest.json: the signature does not match (changed, or another key signed it)")
    manifest = json.loads(manifest_raw)
    if manifest.get("format") != FORMAT:
        raise BundleInvalid(f"{folder}: unknown format {manifest.get('format')!r}")
    listed = manifest["files"]
    present = {n.split("/", 1)[1] for n in names if n.startswith(folder + "/")} - set(SIGNED)
    if present != set(listed):
        extra, missing = sorted(present - set(listed)), sorted(set(listed) - present)
        raise BundleInvalid(f"{folder}: files not in the manifest {extra}, listed but missing {missing}")
    for name, expected in listed.items():
        data = _read(archive, f"{folder}/{name}")
        if len(data) != expected["bytes"] or hashlib.sha256(data).hexdigest() != expected["sha256"]:
            raise BundleInvalid(f"{folder}/{name}: its SHA-256 does not match the signed manifest")
    return Verified(int(manifest["alert_id"]), len(listed), str(manifest.get("signing_key", "")))

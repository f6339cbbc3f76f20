"""Real RTSP servers that misbehave: one that speaks only UDP, one that goes away and comes back.

VLC's server answers a TCP-interleaved SETUP with "461 Unsupported transport"; GStreamer's is killed
and restarted. The readers run with the production defaults (settings), as a camera process does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from cameras.sources import Source, SourceKind
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.capture.reader import FrameReader, ReaderConfig
from detection.grab import FrameGrabError, open_stream
from tests.support.rtsp import RtspServer, looped_clip
from tests.support.vlc import VlcRtspServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return looped_clip(asset_path(CLIP_CARS_TRUCK), tmp_path_factory.mktemp("clips") / "loop.mp4", loops=20)


@pytest.fixture(scope="module")
def udp_only_server(long_clip: Path) -> Iterator[VlcRtspServer]:
    server = VlcRtspServer(long_clip).start()
    yield server
    server.kill()


def production_reader(url: str, transport: str = "auto") -> FrameReader:
    """A reader configured exactly as detection/capture/process.py configures a camera's."""
    config = ReaderConfig(
        fps=5,
        stall_timeout_s=settings.CAPTURE_STALL_TIMEOUT_S,
        backoff_max_s=settings.CAPTURE_BACKOFF_MAX_S,
        transport=transport,
        probe_every_s=settings.CAPTURE_PROBE_EVERY_S,
    )
    return FrameReader(Source(SourceKind.RTSP, url), config, camera_label="recovery")


def test_an_automatic_camera_reads_a_udp_only_server_over_udp(udp_only_server: VlcRtspServer) -> None:
    reader = production_reader(udp_only_server.url)
    reader.start()
    try:
        wait_for(lambda: reader.state.status == "online", 20, "the UDP-only stream to go online")
        frame = reader.frames.get(timeout=10)
        assert frame.image.shape[:2] == (600, 800)
        assert reader.transport_used == "udp"
    finally:
        reader.stop()
        reader.join(10)


def test_tcp_only_against_a_udp_only_server_says_what_was_tried_and_what_the_server_answered(
    udp_only_server: VlcRtspServer,
) -> None:
    with pytest.raises(FrameGrabError) as caught:
        open_stream(Source(SourceKind.RTSP, udp_only_server.url), timeout_s=5, transport="tcp")
    message = str(caught.value)
    assert "over TCP" in message and "461 Unsupported transport" in message, message
    assert "UDP" not in message  # only TCP was asked for


def test_a_wrong_path_names_the_servers_answer_for_both_transports(udp_only_server: VlcRtspServer) -> None:
    url = udp_only_server.url.replace("/cam", "/no-such-stream")
    with pytest.raises(FrameGrabError) as caught:
        open_stream(Source(SourceKind.RTSP, url), timeout_s=5, transport="auto")
    message = str(caught.value)
    assert "over TCP then UDP" in message and "404" in message, message


def test_a_camera_is_back_within_5_s_of_its_server_returning_after_a_long_outage(long_clip: Path) -> None:
    server = RtspServer(long_clip).start()
    reader = production_reader(server.url)
    reader.start()
    try:
        wait_for(lambda: reader.state.status == "online", 20, "the stream to go online")
        server.kill()
        wait_for(lambda: reader.state.status == "offline", 15, "the camera to go offline")
        time.sleep(35)  # longer than the old back-off cap (30 s), with probes failing all along
        reconnects = reader.state.reconnects
        server.start()
        returned = time.monotonic()
        wait_for(lambda: reader.state.status == "online", 15, "the camera to come back")
        back_in = time.monotonic() - returned
        assert back_in < 5.0, f"online {back_in:.1f} s after the server returned"
        # Probes are not opens: the outage cost a handful of full open attempts, not one per second.
        assert reader.state.reconnects - reconnects <= 2
    finally:
        reader.stop()
        reader.join(10)
        server.kill()

"""Frames travel through Redis with a TTL (raw pixels or JPEG, detection/framecodec.py); tasks carry
only the key, never the bytes.

Results come back on a per-camera-session list, which the camera process drains and puts back in
frame order. A session id per camera process means a restarted process never consumes results
that were meant for its predecessor.
"""

from __future__ import annotations

import json
from typing import Any, cast

from core.keycheck import expect_key
from core.redisclient import SOCKET_TIMEOUT_S, get_redis, key

FRAME_TTL_S = 30
RESULT_TTL_S = 120


def frame_key(camera_id: int, session: str, seq: int) -> str:
    return key("frame", camera_id, session, seq)


def reply_key(camera_id: int, session: str) -> str:
    return key("detections", camera_id, session)


def put_frame(frame_key_: str, payload: bytes | bytearray, ttl_s: int = FRAME_TTL_S) -> None:
    get_redis().set(frame_key_, payload, px=ttl_s * 1000)


def take_frame(frame_key_: str) -> bytes | None:
    """Read and delete a frame: each frame is detected once, and memory is freed at once."""
    expect_key(frame_key_, "frame")  # a task names the key: never delete another kind
    return cast(bytes | None, get_redis().getdel(frame_key_))  # one command (Redis >= 6.2), not MULTI/GET/DEL/EXEC


def take_frames(frame_keys: list[str]) -> list[bytes | None]:
    """``take_frame`` of several keys in one round trip (a batch of frames of one detect task)."""
    for frame_key_ in frame_keys:
        expect_key(frame_key_, "frame")
    pipe = get_redis().pipeline(transaction=False)  # each GETDEL is atomic alone; no MULTI needed
    for frame_key_ in frame_keys:
        pipe.getdel(frame_key_)
    return cast(list[bytes | None], pipe.execute())


def push_result(reply_key_: str, result: dict[str, Any]) -> None:
    push_results(reply_key_, [result])


def push_results(reply_key_: str, results: list[dict[str, Any]]) -> None:
    """Append results to a camera's reply list, in the order given (one RPUSH for them all)."""
    expect_key(reply_key_, "detections")
    pipe = get_redis().pipeline()
    pipe.rpush(reply_key_, *(json.dumps(result) for result in results))
    pipe.expire(reply_key_, RESULT_TTL_S)
    pipe.execute()


def pop_results(reply_key_: str, limit: int = 64, *, block_s: float = 0.0) -> list[dict[str, Any]]:
    """Take the results that have arrived; with ``block_s``, wait that long for the first one."""
    if block_s >= SOCKET_TIMEOUT_S / 2:
        # BLPOP holds the socket silent for block_s: it must stay well under the client's socket
        # timeout, or the wait ends in "Timeout reading from socket" instead of an empty answer.
        raise ValueError(f"block_s={block_s} must stay under half the Redis socket timeout ({SOCKET_TIMEOUT_S} s)")
    client = get_redis()
    raw = cast(list[bytes] | None, client.lpop(reply_key_, limit)) or []
    if not raw and block_s > 0:
        first = cast(tuple[bytes, bytes] | None, client.blpop([reply_key_], timeout=block_s))
        if first is not None:
            raw = [first[1], *(cast(list[bytes] | None, client.lpop(reply_key_, limit - 1)) or [])]
    return [json.loads(item) for item in raw]

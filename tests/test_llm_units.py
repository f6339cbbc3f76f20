"""The parts of LLM verification on their own: verdict schema, prompt, privacy, key pool, budget, SDK
against the stub. Real Redis and the real dashscope SDK; no worker."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from typing import Any

import cv2
import numpy as np
import pytest
import redis
from django.conf import settings as django_settings
from jsonschema import Draft202012Validator

from analysis import client, privacy, prompts
from analysis.analyze import RetryLater, retry_countdown
from analysis.budget import Budget
from analysis.client import CallFailed, Failure
from analysis.conf import current
from analysis.keypool import KeyPool, PoolExhausted
from analysis.stub import DashScopeStub, Scripted
from analysis.verdict import RISK_TYPES, VERDICT_SCHEMA, VerdictError, parse_verdict
from cameras.boxes import crop_rect
from core.redact import key_id
from detection.assets import bundled_image
from tests.support.dashscope_helpers import BUS_BOX, KEY_A, KEY_B, PERSON_BOX, clear_llm_state

VALID = {"dangerous": True, "risk_types": ["near_miss", "pedestrian_at_risk"], "severity": 3, "confidence": 0.82,
         "description": "A bus passed within a metre of a pedestrian."}  # fmt: skip


@pytest.fixture(autouse=True)
def _fresh_llm_state() -> None:
    clear_llm_state()


@pytest.fixture
def stub():
    server = DashScopeStub().start()
    yield server
    server.stop()


# --- verdict --------------------------------------------------------------------------------------


def test_a_valid_verdict_is_accepted_as_is() -> None:
    assert parse_verdict(json.dumps(VALID), "en") == VALID


def test_a_verdict_in_a_code_fence_is_accepted() -> None:
    assert parse_verdict(f"```json\n{json.dumps(VALID)}\n```", "en") == VALID


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ('Sure! {"dangerous": true', "not valid JSON"),
        ("[1, 2]", "one JSON object"),
        (json.dumps({**VALID, "risk_types": ["drunk_driving"]}), "unknown risk type(s) drunk_driving"),
        (json.dumps({**VALID, "severity": 5}), "'severity' must be an integer from 1 to 4"),
        (json.dumps({**VALID, "severity": True}), "'severity' must be an integer from 1 to 4"),
        (json.dumps({**VALID, "confidence": 1.5}), "'confidence' must be a number from 0 to 1"),
        (json.dumps({**VALID, "dangerous": "yes"}), "'dangerous' must be true or false"),
        (json.dumps({**VALID, "risk_types": []}), "must name at least one risk type"),
        (json.dumps({**VALID, "reasoning": "..."}), "field 'reasoning' is not allowed"),
        (json.dumps({k: v for k, v in VALID.items() if k != "description"}), "field 'description' is missing"),
        (json.dumps({**VALID, "description": "x" * 241}), "at most 240 characters"),
        (json.dumps({**VALID, "description": "   "}), "'description' must be a non-empty string"),
        (json.dumps({**VALID, "risk_types": ["near_miss", "near_miss"]}), "'risk_types' lists a type twice"),
        (json.dumps({**VALID, "risk_types": "near_miss"}), "'risk_types' must be a list of strings"),
        (json.dumps({**VALID, "risk_types": [3]}), "'risk_types' must be a list of strings"),
        (json.dumps({**VALID, "confidence": "high"}), "'confidence' must be a number from 0 to 1"),
    ],
)
def test_a_reply_off_the_schema_is_refused_with_the_reason(reply: str, problem: str) -> None:
    with pytest.raises(VerdictError) as caught:
        parse_verdict(reply, "en")
    assert problem in str(caught.value)


def test_every_problem_of_a_reply_is_listed_once_for_the_repair_prompt() -> None:
    reply = {"dangerous": "yes", "risk_types": ["drunk_driving", "speeding_fast"], "severity": 9, "extra": 1}
    with pytest.raises(VerdictError) as caught:
        parse_verdict(json.dumps(reply), "en")
    assert caught.value.problems == [
        "field 'confidence' is missing",
        "field 'description' is missing",
        "field 'extra' is not allowed",
        "'dangerous' must be true or false",
        f"unknown risk type(s) drunk_driving, speeding_fast; allowed: {', '.join(RISK_TYPES)}",
        "'severity' must be an integer from 1 to 4",
    ]


def test_the_verdict_schema_in_the_prompt_is_the_one_replies_are_checked_against() -> None:
    # The model reads VERDICT_SCHEMA; a reply that any Draft 2020-12 validator accepts is accepted here.
    Draft202012Validator(VERDICT_SCHEMA).validate(VALID)
    assert json.dumps(VERDICT_SCHEMA, ensure_ascii=False) in prompts.system_text("en")


def test_a_chinese_operator_gets_a_chinese_description() -> None:
    with pytest.raises(VerdictError, match="Simplified Chinese"):
        parse_verdict(json.dumps(VALID), "zh")
    chinese = {**VALID, "description": "公交车与行人距离不足一米。"}
    assert parse_verdict(json.dumps(chinese, ensure_ascii=False), "zh")["description"] == "公交车与行人距离不足一米。"


# --- privacy and prompt ---------------------------------------------------------------------------


def _decode(jpeg: bytes) -> Any:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def _sharpness(image: np.ndarray, box: tuple[float, float, float, float]) -> float:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    patch = cv2.cvtColor(image[int(y1 * h) : int(y2 * h), int(x1 * w) : int(x2 * w)], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(patch, cv2.CV_64F).var())


BOXES = [
    {"track_id": 7, "cls": "person", "xyxy": list(PERSON_BOX)},
    {"track_id": 8, "cls": "bus", "xyxy": list(BUS_BOX)},
]


def test_heads_and_plate_areas_are_pixelated_and_the_rest_is_left_sharp() -> None:
    jpeg = bundled_image().read_bytes()
    original = _decode(jpeg)
    frame, crop = privacy.prepare_images(jpeg, None, boxes=BOXES, group_box=PERSON_BOX, blur=True, max_side=4096)
    sent = _decode(frame.jpeg)
    assert sent.shape == original.shape and (frame.role, crop.role) == ("frame", "crop")
    x1, y1, x2, y2 = PERSON_BOX
    head = (x1, y1, x2, y1 + (y2 - y1) * privacy.HEAD_SHARE)
    bx1, by1, bx2, by2 = BUS_BOX
    plate_band = (bx1, by1 + (by2 - by1) * privacy.PLATE_FROM, bx2, by2)
    for region in (head, plate_band):
        assert _sharpness(sent, region) < _sharpness(original, region) / 5
    # The pedestrian's legs are neither a head nor part of a vehicle: untouched.
    legs = (x1, y2 - (y2 - y1) * 0.2, x2, y2)
    assert _sharpness(sent, legs) == pytest.approx(_sharpness(original, legs), rel=0.3)
    # The crop is cut from the pixelated frame (same box and margin as the stored crop).
    rect = crop_rect(810, 1080, PERSON_BOX)
    assert rect is not None
    left, top, right, bottom = rect
    assert np.abs(_decode(crop.jpeg).astype(int) - sent[top:bottom, left:right].astype(int)).mean() < 3


def test_without_blurring_the_frame_is_only_scaled_down() -> None:
    jpeg = bundled_image().read_bytes()
    (frame,) = privacy.prepare_images(jpeg, None, boxes=BOXES, group_box=None, blur=False, max_side=540)
    assert (frame.width, frame.height) == (405, 540)
    original = cv2.resize(_decode(jpeg), (405, 540), interpolation=cv2.INTER_AREA)
    sent = _decode(frame.jpeg)
    assert np.abs(sent.astype(int) - original.astype(int)).mean() < 6  # JPEG at quality 85, nothing more
    x1, y1, x2, y2 = PERSON_BOX
    head = (x1, y1, x2, y1 + (y2 - y1) * privacy.HEAD_SHARE)
    assert _sharpness(sent, head) > 0.7 * _sharpness(original, head)


def test_a_crop_without_its_frame_never_leaves_when_blurring_is_on() -> None:
    crop = bundled_image().read_bytes()
    assert privacy.prepare_images(None, crop, boxes=BOXES, group_box=PERSON_BOX, blur=True, max_side=1024) == []
    (only,) = privacy.prepare_images(None, crop, boxes=BOXES, group_box=PERSON_BOX, blur=False, max_side=1024)
    assert only.role == "crop"


def test_the_prompt_carries_images_as_data_urls_and_the_rule_evidence() -> None:
    jpeg = bundled_image().read_bytes()
    images = privacy.prepare_images(jpeg, None, boxes=BOXES, group_box=PERSON_BOX, blur=True, max_side=1024)
    payload = {"event_type": "near_miss", "severity": 3, "measurements": {"ttc_s": 0.9}, "track_ids": [7, 8],
               "boxes": [*BOXES, {"track_id": 99, "cls": "car", "xyxy": [0.1, 0.1, 0.2, 0.2]}]}  # fmt: skip
    zones = [{"name": "north crossing", "kind": "crosswalk"}]
    messages = prompts.build_messages(payload, images, camera_name="Gate 3", speed_limit_kmh=50, zones=zones,
                                      language="zh")  # fmt: skip
    system, user = messages
    assert system["role"] == "system" and "Simplified Chinese" in system["content"][0]["text"]
    parts = user["content"]
    assert [p["image"][:23] for p in parts[:2]] == ["data:image/jpeg;base64,"] * 2
    assert base64.b64decode(parts[0]["image"].split(",", 1)[1]) == images[0].jpeg
    text = parts[2]["text"]
    event = json.loads(text.split("Rule event: ", 1)[1].split("\n", 1)[0])
    assert event["measurements"] == {"ttc_s": 0.9}
    assert [t["track_id"] for t in event["tracks"]] == [7, 8]  # only the road users involved
    assert "Gate 3" in text and "north crossing (crosswalk)" in text and "Image 2 is an enlarged crop" in text


# --- key pool -------------------------------------------------------------------------------------


def pool(*keys: str, **conf: object) -> KeyPool:
    return KeyPool(list(keys), dataclasses.replace(current(), **conf), redis.Redis.from_url(django_settings.REDIS_URL))


def test_the_least_loaded_key_is_chosen_and_a_throttled_key_rests() -> None:
    keys = pool(KEY_A, KEY_B, key_cooldown_s=30.0)
    first, second = keys.acquire(), keys.acquire()
    assert {first.key_id, second.key_id} == {key_id(KEY_A), key_id(KEY_B)}  # load spread over both
    assert keys.release(first, "throttled", "Throttling.RateQuota") == "cooling"
    keys.release(second, "ok")
    for _ in range(3):
        lease = keys.acquire()
        assert lease.key_id == second.key_id
        keys.release(lease, "ok")
    state = {s.key_id: s for s in keys.snapshot()}[first.key_id]
    assert state.state == "cooling" and 23.9 < state.cooling_for_s <= 30 and state.reason == "Throttling.RateQuota"


def test_cool_downs_double_with_each_further_429_and_a_success_ends_them() -> None:
    keys = pool(KEY_A, key_cooldown_s=0.2, key_cooldown_max_s=60.0)
    cooling = []
    for _ in range(3):
        lease = wait_for_lease(keys)
        keys.release(lease, "throttled", "Throttling")
        cooling.append(keys.snapshot()[0].cooling_for_s)
    assert cooling[0] < cooling[1] < cooling[2] and cooling[2] > 0.55  # 0.2, 0.4, 0.8 s (up to 20 % less)
    with pytest.raises(PoolExhausted) as out:
        keys.acquire()
    assert out.value.reason == "cooling" and 0 < out.value.retry_after_s <= 1.0
    keys.release(wait_for_lease(keys), "ok")
    assert keys.snapshot()[0].state == "active"


def wait_for_lease(keys: KeyPool):
    deadline = time.monotonic() + 5
    while True:
        try:
            return keys.acquire()
        except PoolExhausted as out:
            assert time.monotonic() < deadline
            time.sleep(out.retry_after_s)


def test_a_refused_key_is_disabled_until_an_operator_enables_it() -> None:
    keys = pool(KEY_A, KEY_B)
    lease = keys.acquire()
    assert keys.release(lease, "refused", "InvalidApiKey", "Invalid API-key provided.") == "disabled"
    other = keys.acquire()
    keys.release(other, "ok")
    assert other.key_id != lease.key_id
    keys.release(keys.acquire(), "refused", "Arrearage", "Access denied")
    with pytest.raises(PoolExhausted) as out:
        keys.acquire()
    assert out.value.reason == "disabled"
    assert keys.enable(lease.key_id)
    assert keys.acquire().key_id == lease.key_id
    assert not keys.enable("0123456789")  # not a configured key


def test_a_key_at_its_concurrency_limit_is_busy_until_a_call_ends() -> None:
    keys = pool(KEY_A, key_max_concurrent=1)
    lease = keys.acquire()
    with pytest.raises(PoolExhausted) as out:
        keys.acquire()
    assert out.value.reason == "busy"
    keys.release(lease, "ok")
    keys.acquire()


def test_the_pool_state_never_holds_a_key() -> None:
    keys = pool(KEY_A, KEY_B)
    keys.release(keys.acquire(), "refused", "InvalidApiKey", f"bad key {KEY_A}")
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    names: list[bytes] = list(client.scan_iter("trafficsite:llm:*"))
    hashes = [name for name in names if client.type(name) == b"hash"]
    assert hashes  # the disabled key's state is there
    values = [bytes(v) for name in hashes for v in client.hgetall(name).values()]
    dump = b"".join(names + values)
    assert KEY_A.encode() not in dump and KEY_B.encode() not in dump


# --- budget ---------------------------------------------------------------------------------------


def budget(**conf: object) -> Budget:
    return Budget(dataclasses.replace(current(), **conf), redis.Redis.from_url(django_settings.REDIS_URL))


def test_the_request_bucket_refills_at_the_configured_rate() -> None:
    limits = budget(requests_per_minute=120, burst_s=1.0, tokens_per_minute=10_000_000)
    assert limits.take(10) == 0 and limits.take(10) == 0  # a burst of 2 (1 s at 2/s)
    wait = limits.take(10)
    assert 0.3 < wait <= 0.5
    time.sleep(wait)
    assert limits.take(10) == 0


def test_the_token_bucket_waits_for_the_tokens_and_is_settled_with_the_real_usage() -> None:
    limits = budget(requests_per_minute=10_000, tokens_per_minute=60_000, burst_s=1.0)  # 1,000 tokens/s
    assert limits.take(800) == 0
    assert 0.55 < limits.take(800) <= 0.65  # 200 left: 600 more tokens take 0.6 s
    limits.settle(estimated=800, actual=200)  # the first call used less than reserved
    assert limits.take(700) == 0


def test_hourly_caps_count_each_event_once() -> None:
    limits = budget(calls_per_hour=3)
    assert [limits.reserve_call(e, 1, camera_cap=2) for e in ("e1", "e2", "e3")] == ["", "", "camera"]
    assert limits.reserve_call("e1", 1, camera_cap=2) == ""  # a retry of a counted event
    assert limits.reserve_call("e4", 2, camera_cap=2) == ""
    assert limits.reserve_call("e5", 3, camera_cap=2) == "global"
    assert limits.calls_last_hour() == 3 and limits.calls_last_hour(1) == 2


# --- settings -------------------------------------------------------------------------------------


def test_llm_settings_are_read_when_used_so_overrides_reach_them(settings) -> None:
    settings.LLM_KEY_COOLDOWN_S, settings.LLM_KEY_COOLDOWN_MAX_S = 0.5, 0.5
    settings.LLM_CALLS_PER_HOUR = 1
    assert KeyPool([KEY_A], client=redis.Redis.from_url(django_settings.REDIS_URL)).conf.key_cooldown_s == 0.5
    limits = Budget(client=redis.Redis.from_url(django_settings.REDIS_URL))
    assert [limits.reserve_call(e, 1, camera_cap=10) for e in ("e1", "e2")] == ["", "global"]
    # The counted retries of the analyze task: the back-off and the retry limit come from settings.
    settings.LLM_RETRY_BACKOFF_S, settings.LLM_RETRY_BACKOFF_MAX_S, settings.LLM_MAX_RETRIES = 7.0, 7.0, 1
    later = RetryLater(ConnectionError("DashScope unreachable"), counted=True)
    assert 3.5 <= retry_countdown(later, "task-settings-1") <= 7.0
    with pytest.raises(ConnectionError):
        retry_countdown(later, "task-settings-1")  # its second failure: past LLM_MAX_RETRIES


def test_contradictory_llm_settings_stop_the_process_with_their_names() -> None:
    from tests.test_settings import PROD_ENV, run_django

    check = ["-c", "import django; django.setup()"]
    cases = [
        ({"LLM_RETRY_BACKOFF_S": "10", "LLM_RETRY_BACKOFF_MAX_S": "5"}, "LLM_RETRY_BACKOFF_MAX_S must not be below"),
        ({"LLM_KEY_COOLDOWN_S": "10", "LLM_KEY_COOLDOWN_MAX_S": "5"}, "LLM_KEY_COOLDOWN_MAX_S must not be below"),
        ({"LLM_REQUEST_TIMEOUT_S": "50"}, "must stay below the analyze task's soft time limit (100 s)"),
        ({"LLM_MAX_RETRIES": "many"}, "LLM_MAX_RETRIES='many': expected an integer"),
    ]
    for env, message in cases:
        done = run_django(check, {**PROD_ENV, **env})
        assert done.returncode != 0 and message in done.stderr, (env, done.stderr[-500:])


# --- the SDK against the stub ---------------------------------------------------------------------


def sdk_call(messages, key: str = KEY_A, timeout_s: int = 10) -> client.Reply:
    return client.call(messages, api_key=key, model="qwen-vl-max", timeout_s=timeout_s, max_tokens=300)


@pytest.fixture
def messages():
    images = privacy.prepare_images(bundled_image().read_bytes(), None, boxes=BOXES, group_box=PERSON_BOX,
                                    blur=True, max_side=1024)  # fmt: skip
    payload = {"event_type": "near_miss", "severity": 3, "measurements": {}, "track_ids": [7, 8], "boxes": BOXES}
    return prompts.build_messages(payload, images, camera_name="Gate", speed_limit_kmh=50, zones=[], language="en")


def test_the_real_sdk_gets_text_usage_and_request_id_from_the_stub(stub, messages, settings) -> None:
    settings.DASHSCOPE_BASE_URL = stub.base_url
    reply = sdk_call(messages)
    (call,) = stub.calls_snapshot()
    assert reply.request_id == call.request_id and call.key_id == key_id(KEY_A)
    assert parse_verdict(reply.text, "en")["risk_types"] == ["near_miss"]
    assert reply.tokens_image == sum((w + 27) // 28 * ((h + 27) // 28) + 2 for w, h in call.images) > 0
    assert reply.tokens_in > reply.tokens_image and reply.tokens_out > 0
    assert call.model == "qwen-vl-max" and call.images == [[768, 1024], [256, 656]]
    assert call.parameters == {"result_format": "message", "max_tokens": 300, "temperature": 0.1}


@pytest.mark.parametrize(
    ("kind", "failure", "status", "code"),
    [
        ("throttle", Failure.THROTTLED, 429, "Throttling.RateQuota"),
        ("invalid_key", Failure.KEY_REFUSED, 401, "InvalidApiKey"),
        ("arrearage", Failure.KEY_REFUSED, 400, "Arrearage"),
        ("blocked", Failure.BLOCKED, 400, "DataInspectionFailed"),
        ("server_error", Failure.SERVER, 500, "InternalError"),
    ],
)
def test_each_error_reply_is_classified(stub, messages, settings, kind, failure, status, code) -> None:
    settings.DASHSCOPE_BASE_URL = stub.base_url
    stub.script(kind)
    with pytest.raises(CallFailed) as caught:
        sdk_call(messages)
    assert (caught.value.failure, caught.value.status, caught.value.code) == (failure, status, code)
    assert caught.value.request_id == stub.calls_snapshot()[0].request_id
    assert caught.value.transient == (failure in (Failure.THROTTLED, Failure.SERVER))


def test_a_slow_reply_times_out_and_a_closed_port_fails_to_connect(stub, messages, settings) -> None:
    settings.DASHSCOPE_BASE_URL = stub.base_url
    stub.script(Scripted("slow", delay_s=5))
    with pytest.raises(CallFailed) as slow:
        sdk_call(messages, timeout_s=1)
    assert slow.value.failure is Failure.TIMEOUT and slow.value.transient
    settings.DASHSCOPE_BASE_URL = "http://127.0.0.1:9/api/v1"
    with pytest.raises(CallFailed) as refused:
        sdk_call(messages)
    assert refused.value.failure is Failure.CONNECTION and refused.value.transient


def test_an_image_the_service_cannot_read_is_a_permanent_bad_request(stub, settings) -> None:
    """The stub takes images inside the request only (this machine is offline): a URL is refused."""
    settings.DASHSCOPE_BASE_URL = stub.base_url
    with pytest.raises(CallFailed) as caught:
        sdk_call([{"role": "user", "content": [{"image": "https://example.invalid/x.jpg"}, {"text": "?"}]}])
    assert caught.value.failure is Failure.BAD_REQUEST and not caught.value.transient


def test_keys_are_masked_in_error_details(settings) -> None:
    settings.DASHSCOPE_API_KEYS = [KEY_A]
    failed = CallFailed(Failure.KEY_REFUSED, f"key {KEY_A} is invalid", status=401, code="InvalidApiKey")
    assert KEY_A not in str(failed) and "…0001" in str(failed)

"""The operator's side of LLM verification: the key pool page, who may enable a key, the camera's
LLM options, and the stub as the demo runs it (the management command)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.test import Client

from analysis import client as dashscope_client
from analysis.keypool import KeyPool
from analysis.verdict import parse_verdict
from core.redact import key_id
from tests.factories import make_camera
from tests.support.dashscope_helpers import KEY_A, KEY_B, clear_llm_state
from tests.support.rtsp import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh(settings) -> None:
    clear_llm_state()
    settings.DASHSCOPE_API_KEYS = [KEY_A, KEY_B]


def staff(*permissions: str) -> User:
    user = User.objects.create_user("viewer", password="a-long-viewer-password", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def disable_a() -> None:
    pool = KeyPool.from_settings()
    lease = pool.acquire()
    assert lease.key_id == key_id(KEY_A)
    pool.release(lease, "refused", "Arrearage", "Access denied, please make sure your account is in good standing.")


def test_the_analyses_list_links_to_the_key_pool_page(client: Client) -> None:
    client.force_login(User.objects.create_superuser("root", password="a-long-root-password"))
    listing = client.get("/admin/analysis/llmanalysis/").content.decode()
    assert 'href="/admin/analysis/llmanalysis/keys/"' in listing
    page = client.get("/admin/analysis/llmanalysis/keys/").content.decode()
    assert page.count('data-state="active"') == 2 and "…0001" in page and "…0002" in page
    assert KEY_A not in page and KEY_B not in page
    assert "60 per minute" in page and "of 1000 allowed" in page  # the budget's configuration


def test_a_viewer_sees_a_disabled_key_but_cannot_enable_it(client: Client) -> None:
    disable_a()
    client.force_login(staff("view_llmanalysis"))
    page = client.get("/admin/analysis/llmanalysis/keys/").content.decode()
    assert f'id="key-{key_id(KEY_A)}" data-state="disabled"' in page and "Arrearage" in page
    assert "Enable again" not in page
    assert client.post(f"/admin/analysis/llmanalysis/keys/{key_id(KEY_A)}/enable/").status_code == 403
    assert KeyPool.from_settings().snapshot()[0].state == "disabled"


def test_an_operator_with_the_permission_enables_a_key_again(client: Client) -> None:
    disable_a()
    client.force_login(staff("view_llmanalysis", "manage_keypool"))
    assert "Enable again" in client.get("/admin/analysis/llmanalysis/keys/").content.decode()
    assert client.get(f"/admin/analysis/llmanalysis/keys/{key_id(KEY_A)}/enable/").status_code == 405
    response = client.post(f"/admin/analysis/llmanalysis/keys/{key_id(KEY_A)}/enable/", follow=True)
    assert f"Key {key_id(KEY_A)} is enabled again." in response.content.decode()
    assert KeyPool.from_settings().snapshot()[0].state == "active"


def test_without_keys_the_page_says_alerts_are_rules_only(client: Client, settings) -> None:
    settings.DASHSCOPE_API_KEYS = []
    client.force_login(User.objects.create_superuser("root", password="a-long-root-password"))
    assert 'id="no-keys"' in client.get("/admin/analysis/llmanalysis/keys/").content.decode()


def test_the_camera_form_offers_the_llm_options_and_checks_the_rule_names(client: Client) -> None:
    camera = make_camera()
    client.force_login(User.objects.create_superuser("root", password="a-long-root-password"))
    form = client.get(f"/admin/cameras/camera/{camera.pk}/change/").content.decode()
    for field in ("llm_enabled", "llm_conclusive_rules", "llm_calls_per_hour", "llm_privacy_blur"):
        assert f'name="{field}"' in form
    camera.llm_conclusive_rules = ["wrong_way", "speeding"]
    camera.full_clean()
    camera.llm_conclusive_rules = ["drifting"]
    with pytest.raises(ValidationError, match="Unknown rule"):
        camera.full_clean()


def test_the_stub_command_serves_the_sdk_and_takes_a_script_over_http(settings) -> None:
    port = free_port()
    command = [sys.executable, "manage.py", "dashscope_stub", "--port", str(port), "--latency", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"DASHSCOPE_BASE_URL=http://127.0.0.1:{port}/api/v1" in line
        settings.DASHSCOPE_BASE_URL = f"http://127.0.0.1:{port}/api/v1"
        script = json.dumps({"replies": [{"kind": "throttle"}]}).encode()
        urllib.request.urlopen(f"http://127.0.0.1:{port}/stub/script", data=script, timeout=5).close()
        messages = [{"role": "user", "content": [{"text": "Write Simplified Chinese (简体中文). Rule event: "
                                                          '{"event_type": "speeding", "severity": 2}'}]}]  # fmt: skip
        with pytest.raises(dashscope_client.CallFailed) as throttled:
            dashscope_client.call(messages, api_key=KEY_A, model="qwen-vl-max", timeout_s=5, max_tokens=100)
        assert throttled.value.status == 429
        reply = dashscope_client.call(messages, api_key=KEY_A, model="qwen-vl-max", timeout_s=5, max_tokens=100)
        verdict = parse_verdict(reply.text, "zh")
        assert (verdict["risk_types"], verdict["severity"]) == (["speeding"], 2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stub/calls", timeout=5) as response:
            calls = json.load(response)["calls"]
        assert [c["status"] for c in calls] == [429, 200] and calls[0]["key_id"] == key_id(KEY_A)
        assert KEY_A not in json.dumps(calls)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0

"""The README's shell blocks, run as written, so the README cannot rot.

Every ```sh block of README.md has a runner here, keyed on the block's exact text: a new or changed
block fails `test_every_shell_block_of_the_readme_has_a_runner` until it gets one. The runners start
the real commands in a fresh shell environment (no DJANGO_* or database variables: what a new user
has) on a temporary data folder, with tiny inputs (one scenario instead of 35) and free ports, which
they pass through the variables the launcher reads (PORT, FLOWER_PORT, METRICS_BASE_PORT). `./run`
is started, used once it says it is ready, and stopped with Ctrl-C (SIGINT to its process group).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from psycopg import sql

from trafficsite.env import LOCAL_ENV_FILE, load_local_env, write_local_env

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

RUN = "./run"
RUN_WITH_SERVICES = (
    "REDIS_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgres://postgres@127.0.0.1:5432/trafficsite ./run"
)
TEST = "./test"
SCENARIOS = (
    ".venv/bin/python manage.py make_scenarios var/scenarios     "
    "# var/scenarios/{dev,dev2,dev3,dev4,dev5,test}, 75 each\n"
    ".venv/bin/python manage.py evaluate var/scenarios/test      # or --json; --explain NAME; --fps 10"
)
CHECK_DEPLOY = (
    "DJANGO_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))') \\\n"
    "  DJANGO_ALLOWED_HOSTS=example.org DJANGO_HTTPS=true .venv/bin/python manage.py check --deploy"
)
# The block -> the test that runs it. Keep in step with README.md (the first test checks both ways).
RUNNERS = {
    RUN: "test_run_then_the_scenario_commands_work_as_written",
    SCENARIOS: "test_run_then_the_scenario_commands_work_as_written",
    RUN_WITH_SERVICES: "test_run_with_postgresql_and_redis_works_as_written",
    TEST: "test_the_test_script_runs_as_written_and_stops_at_the_first_failing_step",
    CHECK_DEPLOY: "test_the_deployment_check_is_clean_as_written",
}
TINY_SCENARIO = "tailgating-01"  # the shortest scenario: 4.5 s of video
READY_TIMEOUT_S = 600  # a first start composes the demo clip and migrates; the 2-core CI box is slow


def shell_blocks(text: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^```(?:sh|bash|shell)\n(.*?)^```", text, re.M | re.S)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_env(data: Path, **extra: str) -> dict[str, str]:
    """A new user's shell: no settings module, secret, database or Redis variables."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TRAFFICSITE_ASSET_DIR") if name in os.environ}
    env |= {"TRAFFICSITE_DATA_DIR": str(data), "MQTT_TOPIC_PREFIX": f"readme-test-{os.getpid()}"}
    return env | extra


def sh(block: str, env: dict[str, str], timeout: float, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", "set -o errexit -o pipefail\n" + block],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Launcher:
    """``./run`` in its own process group, its output collected by a thread."""

    def __init__(self, block: str, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            ["bash", "-c", block],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines[-80:])

    def wait_ready(self) -> str:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            ready = [line for line in self.lines if line.startswith("[run] ready: ")]
            if ready:
                return ready[0].split()[2]  # the dashboard URL
            assert self.proc.poll() is None, f"./run exited with {self.proc.returncode}:\n{self.output()}"
            time.sleep(0.5)
        raise AssertionError(f"./run was not ready within {READY_TIMEOUT_S} s:\n{self.output()}")

    def ctrl_c(self) -> int:
        """What Ctrl-C in its terminal does: SIGINT to the whole foreground group."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout=90)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.reader.join(timeout=10)


def get(url: str) -> tuple[int, str]:
    """Status and Location (redirects are not followed)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status, resp.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def own_folder(prefix: str) -> Path:
    # Not pytest's tmp_path: on a machine shared by several test sessions, each new session deletes
    # all but the three newest base folders, which took a running ./run's data folder away.
    return Path(tempfile.mkdtemp(prefix=f"trafficsite-readme-{prefix}-"))


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """One data folder for both ./run blocks, so the demo clip is composed once."""
    folder = own_folder("data")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def scratch() -> Iterator[Path]:
    folder = own_folder("scratch")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def ports() -> dict[str, str]:
    # The launcher takes the metrics base port and the next four.
    base = free_port()
    while not all(_port_free(base + i) for i in range(5)):
        base = free_port()
    return {"PORT": str(free_port()), "FLOWER_PORT": str(free_port()), "METRICS_BASE_PORT": str(base)}


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


# --- the blocks ------------------------------------------------------------------------------------


def test_every_shell_block_of_the_readme_has_a_runner() -> None:
    blocks = shell_blocks(README.read_text())
    uncovered = [b for b in blocks if b not in RUNNERS]
    assert not uncovered, f"README shell block(s) without a runner in tests/test_readme.py: {uncovered}"
    stale = [b for b in RUNNERS if b not in blocks]
    assert not stale, f"runner(s) for block(s) no longer in the README: {stale}"
    assert set(RUNNERS.values()) <= {name for name in globals() if name.startswith("test_")}


@pytest.mark.slow
@pytest.mark.timeout(2 * READY_TIMEOUT_S)
def test_run_then_the_scenario_commands_work_as_written(data_dir: Path, ports: dict[str, str]) -> None:
    env = fresh_env(data_dir, **ports)
    launcher = Launcher(RUN, env)
    try:
        dashboard = launcher.wait_ready()
        base = dashboard.removesuffix("/dashboard/")
        assert get(f"{base}/readyz")[0] == 200
        # The API docs need a staff login, and Swagger UI's files are served from here, not a CDN.
        status, location = get(f"{base}/api/docs/")
        assert status == 302 and location.startswith("/admin/login/"), (status, location)
        assert get(f"{base}/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")[0] == 200

        # In another shell, as written (no variables but the data folder), with one tiny scenario.
        scenarios = data_dir / "scenarios"
        tiny = SCENARIOS.replace("make_scenarios var/scenarios", f"make_scenarios {scenarios} --only {TINY_SCENARIO}")
        tiny = tiny.replace("evaluate var/scenarios/test", f"evaluate {scenarios}")
        assert tiny.count(str(scenarios)) == 2, "the README's scenario commands changed: update this runner"
        done = sh(tiny, env, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"1 scenarios in {scenarios}" in done.stdout
        assert re.search(r"^tailgating\s+1\s+0\s+0\s", done.stdout, re.M), done.stdout
        assert re.search(r"^overall\s+1\s+0\s+0\s", done.stdout, re.M), done.stdout

        assert launcher.ctrl_c() == 0, launcher.output()
    finally:
        launcher.kill()
    assert (data_dir / "local.env").read_text().count("REDIS_URL=unix://") == 1


@pytest.fixture
def readme_database() -> Iterator[str]:
    """A PostgreSQL database of its own on the test server (./run creates it), dropped afterwards."""
    server = urlsplit(os.environ["DATABASE_URL"])  # the tests' PostgreSQL (tests/settings.py)
    name = f"{server.path.lstrip('/')}_readme"
    url = server._replace(path=f"/{name}").geturl()
    admin = server._replace(path="/postgres").geturl()
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)


@pytest.mark.slow
@pytest.mark.timeout(READY_TIMEOUT_S + 120)
def test_run_with_postgresql_and_redis_works_as_written(
    data_dir: Path, ports: dict[str, str], readme_database: str
) -> None:
    redis_url = os.environ["REDIS_URL"]  # the tests' Redis db (tests/settings.py)
    block = RUN_WITH_SERVICES.replace("redis://127.0.0.1:6379/0", redis_url)
    block = block.replace("postgres://postgres@127.0.0.1:5432/trafficsite", readme_database)
    assert block.count(redis_url) == block.count(readme_database) == 1, "the README changed: update this runner"
    launcher = Launcher(block, fresh_env(data_dir, **ports))
    try:
        launcher.wait_ready()
        assert launcher.ctrl_c() == 0, launcher.output()
    finally:
        launcher.kill()
        redis.Redis.from_url(redis_url).flushdb()  # the stopped workers' queues and leases
    output = "".join(launcher.lines)
    assert "using REDIS_URL from the environment" in output and "using DATABASE_URL from the environment" in output
    # What the user set is theirs: the data folder records no Redis for later commands.
    assert "REDIS_URL" not in (data_dir / "local.env").read_text()


def test_the_test_script_runs_as_written_and_stops_at_the_first_failing_step(scratch: Path) -> None:
    # A copy of this tree with one lint error: `./test` must stop at ruff, before mypy and pytest.
    # (Run in the real tree, the block would be the whole suite, this test included.)
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, files.split("\0")):
        source = ROOT / name
        if source.is_file():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, scratch / name)
    (scratch / "core" / "unused_import.py").write_text('"""A lint error: an unused import."""\n\nimport os\n')
    done = sh(TEST, dict(os.environ), timeout=300, cwd=scratch)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "[test] ruff" in output and "F401" in output, output
    assert "[test] mypy" not in output, output


def test_the_deployment_check_is_clean_as_written(scratch: Path) -> None:
    # In a checkout where ./run has run: its local mode (plain HTTP) is in the data folder.
    write_local_env(scratch, {"DJANGO_HTTPS": "false", "DJANGO_ALLOWED_HOSTS": "localhost"})
    done = sh(CHECK_DEPLOY, fresh_env(scratch), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout + done.stderr


# --- the local-mode file that makes the commands work next to ./run --------------------------------


def test_the_local_mode_file_fills_only_unset_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secret_key").write_text("a-generated-key\n")
    write_local_env(
        tmp_path,
        {
            "DJANGO_SECRET_KEY_FILE": str(tmp_path / "secret_key"),
            "DJANGO_HTTPS": "false",
            "REDIS_URL": "unix:///tmp/x.sock?db=0",
        },
    )
    assert oct((tmp_path / LOCAL_ENV_FILE).stat().st_mode & 0o777) == "0o600"
    for name in ("DJANGO_SECRET_KEY", "DJANGO_HTTPS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6379/3")  # set by the user: it wins
    assert load_local_env(tmp_path) == ["DJANGO_HTTPS", "DJANGO_SECRET_KEY"]
    assert os.environ["DJANGO_SECRET_KEY"] == "a-generated-key"
    assert os.environ["DJANGO_HTTPS"] == "false"
    assert os.environ["REDIS_URL"] == "redis://elsewhere:6379/3"


def test_a_data_folder_without_the_file_changes_nothing(tmp_path: Path) -> None:
    before = dict(os.environ)
    assert load_local_env(tmp_path) == []
    assert dict(os.environ) == before


def test_the_local_mode_file_cannot_set_other_variables(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DJANGO_DEBUG"):
        write_local_env(tmp_path, {"DJANGO_DEBUG": "true"})
    (tmp_path / LOCAL_ENV_FILE).write_text("DJANGO_DEBUG=true\n")
    with pytest.raises(ImproperlyConfigured, match=r"line 1: expected NAME=value with NAME one of"):
        load_local_env(tmp_path)

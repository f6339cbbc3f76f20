"""Chaos run: the whole system under ./run's launcher, a camera with a steady stream of candidate events,
and the faults of issue 15 applied one after the other; ends with one line:

    events N, alerts N, lost 0, duplicated 0, late 0 (max delay X s), camera back in Y s

    .venv/bin/python bench/chaos.py [--kills 20] [--redis-url redis://127.0.0.1:6379/3]
                                    [--database-url postgres://postgres@127.0.0.1:5432/trafficsite_chaos]
                                    [--broker-url amqp://guest:guest@127.0.0.1:5672/trafficsite_chaos]

What it does:
- Starts ``python -m trafficsite.launcher`` in a fresh data folder (embedded Redis and SQLite unless
  --redis-url / --database-url say otherwise; with --redis-url this script starts that Redis itself,
  on the URL's port with the append-only file, so that it can restart it). --broker-url puts the
  Celery queues on RabbitMQ (a virtual host of its own: its task queues are emptied first), so the
  broker, not the launcher, gives a killed worker's reserved tasks back.
- Serves the composed demo street clip (speeder, tailgating pair, near miss: events every loop)
  from GStreamer's RTSP server and points the calibrated demo camera at it (the other demo camera is
  disabled, to leave the CPUs to this one).
- Follows every candidate event in the capture log, every alert in the database and every push on a
  real websocket (an API token), and applies: --kills SIGKILLs of whole llm / alerts / detect
  workers in turn, a SIGKILL and restart of Redis, a restart of the RTSP server (10 s away), and a
  crash loop of the detect worker (six kills in a row). Then it waits for the last alerts.

lost: events without an alert; duplicated: alerts pushed more than once to the dashboard; late:
alerts pushed more than 60 s after their frame was captured; camera back: from the RTSP server's
restart to the camera's status online. The run takes several minutes; it exits 1 when a count is
not zero.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from tests.support.rtsp import RtspServer, free_port  # noqa: E402

EVENT_SENT = re.compile(r"candidate ([0-9a-f]{12}) -> ")
EVENT_DROPPED = re.compile(r"candidate of frame (\d+) dropped")
WORKER_READY = re.compile(r"celery\.apps\.worker (\w+)@\S+ ready\.")
LATE_S = 60.0


def log(message: str) -> None:
    print(f"[chaos] {message}", flush=True)


class Launcher:
    """./run's launcher as a child; its output is kept in a file and read for candidate events."""

    def __init__(self, data: Path, env: dict[str, str], port: int) -> None:
        self.port = port
        self.log_path = data / "launcher.log"
        argv = [sys.executable, "-m", "trafficsite.launcher", "--port", str(port), "--flower-port",
                str(free_port()), "--metrics-base-port", str(20000 + os.getpid() % 20000)]  # fmt: skip
        self.proc = subprocess.Popen(argv, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace")  # fmt: skip
        self.ready = threading.Event()
        self.events: dict[str, float] = {}  # event key prefix -> when it was sent
        self.dropped = 0  # candidates that could not be sent (broker or Redis away)
        self.ready_count: Counter[str] = Counter()  # "<queue>@host ready." lines of the workers
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.log_path.open("w") as out:
            for line in self.proc.stdout:
                out.write(line)
                out.flush()
                if "[run] ready:" in line:
                    self.ready.set()
                if match := WORKER_READY.search(line):
                    self.ready_count[match.group(1)] += 1
                if match := EVENT_SENT.search(line):
                    self.events.setdefault(match.group(1), time.time())
                elif EVENT_DROPPED.search(line):
                    self.dropped += 1

    def worker(self, queue: str) -> psutil.Process | None:
        for child in psutil.Process(self.proc.pid).children():
            try:
                cmdline = child.cmdline()
            except psutil.Error:
                continue
            if "-Q" in cmdline and cmdline[cmdline.index("-Q") + 1] == queue:
                return child
        return None

    def redis(self) -> psutil.Process | None:
        for child in psutil.Process(self.proc.pid).children():
            try:
                if "redis" in child.name():
                    return child
            except psutil.Error:
                continue
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Dashboard:
    """A real websocket client of /ws/alerts/ that counts each alert's pushes."""

    def __init__(self, port: int, token: str) -> None:
        self.url = f"ws://127.0.0.1:{port}/ws/alerts/"
        self.token = token
        self.pushes: Counter[int] = Counter()
        self.stopping = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        from websocket import create_connection

        while not self.stopping.is_set():
            try:
                ws = create_connection(self.url, timeout=30, header=[f"Authorization: Token {self.token}"],
                                       origin="http://127.0.0.1")  # fmt: skip
                while not self.stopping.is_set():
                    message = json.loads(ws.recv())
                    if message.get("type") == "alert.created":
                        self.pushes[int(message["alert"]["id"])] += 1
            except Exception:  # the web process lost Redis for a moment: connect again, as the page does
                time.sleep(1)


def wait(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise SystemExit(f"[chaos] gave up waiting {timeout_s:.0f} s for {what}")


def looping_h264(source: Path, target: Path, loops: int) -> Path:
    """The composed clip (mp4v) as H.264 for GStreamer's RTSP server, repeated ``loops`` times."""
    once = target.with_name("once.mp4")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-c:v", "libx264", "-preset",
                    "ultrafast", "-g", "10", "-pix_fmt", "yuv420p", str(once)], check=True, timeout=300)  # fmt: skip
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(once), "-c",
                    "copy", str(target)], check=True, timeout=300)  # fmt: skip
    return target


def start_own_redis(url: str, folder: Path) -> subprocess.Popen[bytes]:
    port = urlsplit(url).port or 6379
    folder.mkdir(parents=True, exist_ok=True)
    binary = shutil.which("redis-server") or "redis-server"
    return subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                             "--appendfsync", "everysec", "--dir", str(folder), "--loglevel", "warning"])  # fmt: skip


def empty_amqp_queues(url: str) -> None:
    """Only this run's tasks in the virtual host: its task queues (as the workers declare them) emptied."""
    from kombu import Connection

    from core import broker
    from core.topology import QUEUES

    with Connection(url, connect_timeout=10) as connection:
        for queue in [*broker.amqp_queues(QUEUES), broker.dead_letter_queue()]:
            bound = queue(connection.default_channel)
            bound.declare()
            log(f"RabbitMQ queue {queue.name}: {bound.purge()} old message(s) removed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of whole llm/alerts/detect workers")
    parser.add_argument("--redis-url", default="", help="a TCP Redis this script starts and restarts (free port)")
    parser.add_argument("--database-url", default="", help="PostgreSQL instead of the embedded SQLite")
    parser.add_argument("--broker-url", default="", help="RabbitMQ for the Celery queues (amqp://...)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (logs) afterwards")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="chaos-", dir="/tmp"))
    port = free_port()
    env = {**os.environ, "TRAFFICSITE_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "trafficsite.settings",
           "PYTHONUNBUFFERED": "1", "DETECT_CONCURRENCY": "1"}  # fmt: skip
    own_redis = None
    if args.redis_url:
        own_redis = start_own_redis(args.redis_url, data / "redis")
        env["REDIS_URL"] = args.redis_url
        time.sleep(0.5)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.broker_url:
        empty_amqp_queues(args.broker_url)
        env["CELERY_BROKER_URL"] = args.broker_url
    log(f"data folder {data}; starting the launcher on port {port}")
    launcher = Launcher(data, env, port)
    rtsp: RtspServer | None = None
    dashboard: Dashboard | None = None
    started = time.monotonic()
    try:
        wait(launcher.ready.is_set, 600, "the system to be ready")
        log(f"ready after {time.monotonic() - started:.0f} s")
        # This process reads the same database and Redis as the launcher's children.
        shared = ("TRAFFICSITE_DATA_DIR", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL")
        os.environ.update({k: v for k, v in env.items() if k in shared})
        os.environ["DJANGO_SECRET_KEY"] = (data / "secret_key").read_text().strip()
        os.environ["REDIS_URL"] = args.redis_url or f"unix://{data / 'redis.sock'}?db=0"
        os.environ.setdefault("DJANGO_HTTPS", "false")
        import django

        django.setup()
        from django.contrib.auth.models import User
        from rest_framework.authtoken.models import Token

        from alerts.models import Alert
        from cameras.models import Camera
        from detection.management.commands.bootstrap_demo import DEMO_CAMERA, DEMO_STREET_CAMERA

        street = Camera.objects.get(name=DEMO_STREET_CAMERA)
        clip = looping_h264(Path(street.source_url), data / "street-loop.mp4", loops=40)
        rtsp = RtspServer(clip).start()
        Camera.objects.filter(name=DEMO_CAMERA).update(enabled=False)
        street.source_url = rtsp.url
        street.save()
        token, _ = Token.objects.get_or_create(user=User.objects.get(username="operator"))
        dashboard = Dashboard(port, token.key)
        wait(lambda: Camera.objects.get(pk=street.pk).status == "online", 120, "the RTSP camera online")
        wait(lambda: launcher.events, 180, "the first candidate event")
        log(f"events flowing ({len(launcher.events)} so far); faults begin")

        # 1. Whole workers SIGKILLed in turn.
        for index in range(args.kills):
            queue = ("llm", "alerts", "detect")[index % 3]
            process = wait(lambda q=queue: launcher.worker(q), 120, f"worker {queue}")
            readies = launcher.ready_count[queue]
            process.send_signal(signal.SIGKILL)
            wait(lambda q=queue, n=readies: launcher.ready_count[q] > n, 120, f"{queue} back")
            log(f"kill {index + 1}/{args.kills}: worker {queue} (pid {process.pid}) SIGKILLed, restarted and ready")
            time.sleep(6)  # some steady work before the next kill

        # 2. Redis SIGKILLed and restarted (the launcher restarts its embedded one itself).
        if own_redis is not None:
            own_redis.send_signal(signal.SIGKILL)
            own_redis.wait(10)
            time.sleep(3)
            own_redis = start_own_redis(args.redis_url, data / "redis")
        else:
            redis_process = wait(launcher.redis, 10, "the embedded Redis")
            redis_process.send_signal(signal.SIGKILL)
            wait(lambda: (r := launcher.redis()) and r.pid != redis_process.pid, 60, "Redis restarted")
        log("Redis SIGKILLed and restarted")
        wait(lambda: Camera.objects.get(pk=street.pk).status == "online", 60, "the camera after the Redis restart")
        time.sleep(10)

        # 3. The RTSP server away for 10 s.
        rtsp.kill()
        wait(lambda: Camera.objects.get(pk=street.pk).status != "online", 30, "the camera to notice")
        time.sleep(10)
        rtsp.start()
        returned = time.monotonic()
        wait(lambda: Camera.objects.get(pk=street.pk).status == "online", 120, "the camera back")
        camera_back_s = time.monotonic() - returned
        log(f"RTSP server restarted; camera back in {camera_back_s:.1f} s")
        time.sleep(10)

        # 4. A crash loop of the detect worker: six kills in a row, each as soon as it is back.
        for _ in range(6):
            process = wait(lambda: launcher.worker("detect"), 120, "worker detect")
            process.send_signal(signal.SIGKILL)
            wait(lambda pid=process.pid: (w := launcher.worker("detect")) and w.pid != pid, 60, "detect back")
        log("detect worker crash loop: six SIGKILLs in a row; the launcher keeps restarting it")
        assert launcher.proc.poll() is None, "the launcher stopped"
        time.sleep(20)

        # Drain: every event's alert.
        def missing() -> list[str]:
            keys = list(Alert.objects.filter(camera=street).values_list("idempotency_key", flat=True))
            return [prefix for prefix in launcher.events if not any(k.startswith(prefix) for k in keys)]

        deadline = time.monotonic() + 90
        while missing() and time.monotonic() < deadline:
            time.sleep(2)
        time.sleep(3)  # the last pushes reach the websocket
        alerts = list(Alert.objects.filter(camera=street).values_list("id", "idempotency_key", "detected_at",
                                                                      "notified_at"))  # fmt: skip
        ours = [a for a in alerts if any(a[1].startswith(prefix) for prefix in launcher.events)]
        delays = [(notified - detected).total_seconds() for _, _, detected, notified in ours if notified]
        unpushed = sum(1 for a in ours if a[3] is None)
        lost = len(missing()) + launcher.dropped + unpushed
        duplicated = sum(n - 1 for n in dashboard.pushes.values() if n > 1)
        late = sum(1 for d in delays if d > LATE_S)
        events = len(launcher.events) + launcher.dropped
        print(
            f"events {events}, alerts {len(ours)}, lost {lost}, duplicated {duplicated}, late {late} "
            f"(max delay {max(delays, default=0.0):.1f} s), camera back in {camera_back_s:.1f} s",
            flush=True,
        )
        return 0 if lost == duplicated == late == 0 else 1
    finally:
        if dashboard is not None:
            dashboard.stopping.set()
        launcher.stop()
        if rtsp is not None:
            rtsp.kill()
        if own_redis is not None and own_redis.poll() is None:
            own_redis.terminate()
            own_redis.wait(10)
        if args.keep:
            log(f"logs kept in {data}")
        else:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

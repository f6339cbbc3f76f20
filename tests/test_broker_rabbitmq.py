"""RabbitMQ as the Celery broker (CELERY_BROKER_URL=amqp://...): a worker SIGKILLed as a whole gives
its reserved alert work back the moment its connection drops, on any number of hosts, and the alert
is stored once; the queues are durable quorum queues with a delivery limit; queue depths and
countdowns work on it as on Redis.

A real RabbitMQ (127.0.0.1:5672 unless TEST_AMQP_URL says otherwise) in a virtual host of the tests'
own: ``trafficsite_test_<Redis db>`` by default, created with rabbitmqctl when missing, so that test
runs with different Redis dbs never share queues, and nothing else on the broker is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from amqp.exceptions import AMQPError
from django.conf import settings
from kombu import Connection, Exchange
from kombu.exceptions import OperationalError
from kombu.transport.native_delayed_delivery import (
    bind_queue_to_native_delayed_delivery_exchange,
    declare_native_delayed_delivery_exchanges_and_queues,
)

from alerts.models import Alert
from core import broker
from core.topology import ALERTS, DETECT, MAINTENANCE, QUEUES
from tests.factories import make_camera
from tests.support.waiting import wait_for
from tests.workers import WorkerProcess
from trafficsite import redeliver

BASE_DIR = Path(__file__).resolve().parent.parent


def _default_amqp_url() -> str:
    db = urlsplit(settings.REDIS_URL).path.strip("/") or "0"
    return f"amqp://guest:guest@127.0.0.1:5672/trafficsite_test_{db}"


@pytest.fixture(scope="module")
def amqp_url() -> str:
    url = os.environ.get("TEST_AMQP_URL") or _default_amqp_url()
    try:
        with Connection(url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=0)
    except (OperationalError, OSError, AMQPError) as exc:  # most likely "NOT_ALLOWED - vhost ... not found"
        vhost = urlsplit(url).path.lstrip("/")
        user = urlsplit(url).username or "guest"
        try:
            created = subprocess.run(["rabbitmqctl", "add_vhost", vhost], capture_output=True, text=True, check=False)
            subprocess.run(["rabbitmqctl", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
                           capture_output=True, check=False)  # fmt: skip
            why = created.stderr.strip() if created.returncode != 0 else ""
        except FileNotFoundError:
            why = "rabbitmqctl is not installed (scripts/system-deps.sh installs RabbitMQ)"
        if why:
            pytest.fail(f"RabbitMQ refused {vhost!r} ({exc}) and rabbitmqctl could not create it: {why}")
    return url


@pytest.fixture
def empty_queues(amqp_url: str) -> Iterator[str]:
    """A virtual host of the test's own, with the task queues declared as the workers declare them.

    Purging shared queues is not enough: a message an earlier test left waiting in the delay queues
    (a retry's countdown) lands in a task queue seconds later. Without rabbitmqctl (a broker
    elsewhere, TEST_AMQP_URL) the shared virtual host's queues are purged instead."""
    parts = urlsplit(amqp_url)
    vhost = f"{parts.path.lstrip('/')}_{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run(["rabbitmqctl", "add_vhost", vhost], capture_output=True, check=True)
        subprocess.run(["rabbitmqctl", "set_permissions", "-p", vhost, parts.username or "guest", ".*", ".*", ".*"],
                       capture_output=True, check=True)  # fmt: skip
        url = urlunsplit(parts._replace(path="/" + vhost))
    except (FileNotFoundError, subprocess.CalledProcessError):
        vhost, url = "", amqp_url
    try:
        with Connection(url) as connection:
            channel = connection.default_channel
            for queue in [*broker.amqp_queues(QUEUES), broker.dead_letter_queue()]:
                queue(channel).declare()
                queue(channel).purge()
        yield url
    finally:
        if vhost:
            subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, check=False)


def amqp_env(url: str, database_url: str) -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "TEST_DATABASE_URL": database_url,
            "CELERY_BROKER_URL": url}  # fmt: skip


def send_alerts(env: dict[str, str], camera_id: int, count: int, prefix: str) -> list[str]:
    argv = [sys.executable, "-m", "tests.support.send_alerts", str(camera_id), str(count), prefix]
    sent = subprocess.run(argv, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert sent.returncode == 0, sent.stderr[-3000:]
    return sent.stdout.split()


def inserts_waiting_for_lock(database_url: str, table: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query ILIKE %s",
            (f"INSERT INTO %{table}%",),
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_as_a_whole_gives_its_reserved_alerts_back_at_once_and_each_is_stored_once(
    empty_queues: str, test_database_url: str
) -> None:
    url = empty_queues
    camera = make_camera()
    env = amqp_env(url, test_database_url)
    table = Alert._meta.db_table
    first = WorkerProcess(queues=ALERTS, name="amqp-first", database_url=test_database_url, concurrency=2,
                          extra_env={"CELERY_BROKER_URL": url}, own_session=True)  # fmt: skip
    second = WorkerProcess(queues=ALERTS, name="amqp-second", database_url=test_database_url, concurrency=2,
                           extra_env={"CELERY_BROKER_URL": url}, own_session=True)  # fmt: skip
    # Inserts into the alerts table wait while this lock is held (reads do not): each task the first
    # worker takes stops at its INSERT, running and unacknowledged (acks-late), until it is killed.
    lock = psycopg.connect(test_database_url)
    try:
        lock.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
        first.start()
        first.wait_log(" ready.")
        keys = send_alerts(env, camera.pk, 3, "amqp-kill")
        assert len(keys) == 3
        wait_for(lambda: inserts_waiting_for_lock(test_database_url, table) == 2, 60,
                 f"both pool processes to hold an alert ({first.log()[-2000:]})")  # fmt: skip
        assert broker.amqp_queue_depths(url, (ALERTS,)) == {ALERTS: 1}  # two reserved, one waiting

        first.kill_whole()
        killed = time.monotonic()
        # RabbitMQ saw the connection close: both reserved messages are ready again, without any
        # visibility timeout and with no other process's help.
        wait_for(lambda: broker.amqp_queue_depths(url, (ALERTS,)) == {ALERTS: 3}, 10, "the messages to come back")
        back_in = time.monotonic() - killed
        lock.rollback()  # the killed processes' inserts now fail with their closed connections

        second.start()
        second.wait_log(" ready.")
        ready = time.monotonic()
        wait_for(lambda: Alert.objects.filter(idempotency_key__in=keys, notified_at__isnull=False).count() == 3, 30,
                 f"the three alerts from the second worker ({second.log()[-2000:]})")  # fmt: skip
        stored_in = time.monotonic() - ready
        for key in keys:
            assert Alert.objects.filter(idempotency_key=key).count() == 1
        assert Alert.objects.filter(camera=camera).count() == 3
        print(f"messages back in {back_in:.2f} s after the kill; alerts stored {stored_in:.2f} s after the new worker")
        assert back_in < 5
    finally:
        lock.close()
        if first.proc is not None and first.proc.poll() is None:
            first.kill_whole()
        second.stop()


def test_a_message_that_keeps_coming_back_is_dead_lettered_after_the_delivery_limit(empty_queues: str) -> None:
    """A poison message (every worker that takes it dies) stops at DELIVERY_LIMIT, kept for an operator;
    an expired one (a ping nobody answered) is dropped, not kept."""
    with Connection(empty_queues) as connection:
        channel = connection.default_channel
        queue = broker.amqp_queues((MAINTENANCE,))[0](channel)
        producer = connection.Producer(channel)
        producer.publish({"expired": True}, exchange=queue.exchange, routing_key=MAINTENANCE, expiration=0.1)
        time.sleep(0.5)
        assert queue.get(no_ack=True) is None  # expired
        producer.publish({"poison": True}, exchange=queue.exchange, routing_key=MAINTENANCE, delivery_mode=2)
        message = wait_for(lambda: queue.get(no_ack=False), 5, "the published message")
        deliveries = 0
        while message is not None:
            deliveries += 1
            message.requeue()  # what a worker's connection loss amounts to
            assert deliveries <= broker.DELIVERY_LIMIT + 5, "the delivery limit was not applied"
            message = queue.get(no_ack=False)
        assert deliveries == broker.DELIVERY_LIMIT + 1
        dead_letter = broker.dead_letter_queue()(channel)
        dead = wait_for(lambda: dead_letter.get(no_ack=True), 5, "the dead-lettered message")
        assert dead.payload == {"poison": True} and dead.headers["x-first-death-reason"] == "delivery_limit"
        assert dead_letter.get(no_ack=True) is None  # the expired one was not kept


@pytest.mark.slow
def test_a_sub_second_countdown_is_sent_and_arrives_through_the_delay_queues(empty_queues: str) -> None:
    """Retries wait in RabbitMQ (native delayed delivery), not in a worker's memory; Celery cannot route
    a countdown under one second, so sends round it up (trafficsite.celery.App). A frame's detect task
    is sent transient (no disk write), alert work persistent."""
    with Connection(empty_queues) as connection:
        declare_native_delayed_delivery_exchanges_and_queues(connection, "quorum")  # as a worker does at start
        bind_queue_to_native_delayed_delivery_exchange(connection, broker.amqp_queues((MAINTENANCE,))[0])
    code = (
        "import django; django.setup()\n"
        "from core.taskbase import send\n"
        "from tests.celery_tasks import FAILS_PERMANENTLY\n"
        "send(FAILS_PERMANENTLY, 'later', countdown=0.4)\n"
        "from core.topology import DETECT_FRAME\n"
        "send(DETECT_FRAME, kwargs={'camera_id': 0, 'seq': 0, 'frame_key': 'none'})\n"
        "print('sent', flush=True)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "CELERY_BROKER_URL": empty_queues}
    sent = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert sent.returncode == 0 and "sent" in sent.stdout, sent.stderr[-3000:]
    with Connection(empty_queues) as connection:
        queue = broker.amqp_queues((MAINTENANCE,))[0](connection.default_channel)
        message = wait_for(lambda: queue.get(no_ack=True), 10, "the delayed task in its queue")
    # Its routing key says the delay it was routed through: 28 bits of 1 s, then the queue.
    assert message.delivery_info["routing_key"] == ".".join("0" * 27 + "1") + ".maintenance"
    assert message.headers["task"] == "tests.fails_permanently"
    assert message.properties["delivery_mode"] == 2
    with Connection(empty_queues) as connection:
        detect = broker.amqp_queues((DETECT,))[0](connection.default_channel)
        frame = wait_for(lambda: detect.get(no_ack=True), 10, "the detect task")
    assert frame.headers["task"] == "detection.detect_frame" and frame.properties["delivery_mode"] == 1


def test_countdowns_round_up_to_whole_seconds() -> None:
    assert broker.whole_countdown(None) is None
    assert broker.whole_countdown(0) == 0
    assert broker.whole_countdown(0.3) == 1.0
    assert broker.whole_countdown(1.2) == 2.0
    assert broker.whole_countdown(5) == 5.0


def test_the_broker_setting_accepts_rabbitmq_and_redis_and_refuses_anything_else() -> None:
    assert broker.is_amqp("amqp://u:p@rabbitmq:5672/trafficsite")
    assert not broker.is_amqp("redis://127.0.0.1:6379/0")
    assert broker.validate("redis+socket:///tmp/r.sock?virtual_host=0")
    with pytest.raises(ValueError, match="amqp://"):
        broker.validate("sqs://queue")
    # A placeholder password is refused too: tests/test_security_settings.py.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "CELERY_BROKER_URL": "kafka://x"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode != 0 and "CELERY_BROKER_URL: expected one of" in result.stderr, result.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_readiness_pings_and_queue_depths_go_through_rabbitmq(empty_queues: str, test_database_url: str) -> None:
    """ping_workers (what /readyz's queue check sends) and the queue-depth gauge, on the RabbitMQ broker."""
    worker = WorkerProcess(queues=MAINTENANCE, name="amqp-ping", database_url=test_database_url, concurrency=1,
                           extra_env={"CELERY_BROKER_URL": empty_queues})  # fmt: skip
    env = amqp_env(empty_queues, test_database_url)
    code = (
        "import django; django.setup()\n"
        "from core.health import queue_depths, watched_queues\n"
        "from core.readiness import check_broker\n"
        "print(check_broker(5)['transport'], queue_depths(watched_queues()))\n"
    )
    try:
        worker.start()
        worker.wait_log(" ready.")
        argv = [sys.executable, "manage.py", "ping_workers", "--timeout", "30", MAINTENANCE]
        pinged = subprocess.run(argv, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert pinged.returncode == 0 and pinged.stdout.startswith("maintenance: ok"), pinged.stdout + pinged.stderr
        with Connection(empty_queues) as connection:
            queue = broker.amqp_queues((ALERTS,))[0](connection.default_channel)
            producer = connection.Producer(connection.default_channel)
            for _ in range(2):
                producer.publish({"waiting": True}, exchange=Exchange(broker.EXCHANGE, "topic"), routing_key=ALERTS)
            assert queue.name == ALERTS
        result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                                timeout=120, check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        transport, depths = result.stdout.strip().split(" ", 1)
        assert transport == "amqp"
        assert depths == str({"detect": 0, "llm": 0, "alerts": 2, "maintenance": 0, "dead-letter": 0})
    finally:
        worker.stop()


def test_the_launcher_leaves_redelivery_to_rabbitmq_and_does_it_itself_on_redis() -> None:
    assert redeliver.redis_broker_url({"REDIS_URL": "unix:///tmp/r.sock?db=0"}) == "unix:///tmp/r.sock?db=0"
    assert redeliver.redis_broker_url({"REDIS_URL": "redis://a/0", "CELERY_BROKER_URL": "redis://b/1"}) == "redis://b/1"
    assert redeliver.redis_broker_url({"REDIS_URL": "redis://a/0", "CELERY_BROKER_URL": "amqp://u:p@r/v"}) is None

"""The RabbitMQ consumer with the real broker, fed through its STOMP plugin as pilots feed it.

Acknowledgement after commit, redeliveries stored once, invalid messages kept
in the rejected table, and the restarts of the issue: the database restarted
during ingestion, the broker restarted during a run (throwaway instances, see
logbook_services.py: the machine's shared services stay up for others' tests).
"""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from logbook_services import ThrowawayPostgres, ThrowawayRabbit, delete_queue, queue_depth, stomp_send_reliably
from logbook_support import SECRET, body, databases, new_stamp, sqlite_store, token  # noqa: F401
from support.waiting import wait_until

BROKER = "amqp://guest:guest@127.0.0.1:5672/"
STOMP_PORT = 61613
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def queue():
    name = "pilots2.test.%s" % uuid.uuid4().hex[:10]
    yield name
    delete_queue(BROKER, name)


class RunningConsumer(object):
    def __init__(self, store, queue, broker=BROKER, **options):
        from pilot_server.logbook.receive.access import Access
        from pilot_server.logbook.receive.consumer import Consumer

        options.setdefault("backoff_limit", 1.0)
        self.consumer = Consumer(store, Access([SECRET]), broker, queue, **options)
        self.thread = threading.Thread(target=self.consumer.run, daemon=True)
        self.thread.start()

    def stop(self):
        self.consumer.stop()
        self.thread.join(30)
        assert not self.thread.is_alive()


def pilot_batches(stamps, batches, size):
    """[(body, headers)]: for each pilot, `batches` batches of `size` messages, interleaved."""
    items = []
    for index in range(batches):
        for stamp in stamps:
            low = index * size + 1
            items.append((body(stamp, range(low, low + size)), {"pilot-token": token(stamp)}))
    return items


def assert_stored_once_in_order(store, stamps, count):
    for stamp in stamps:
        assert [item["seq"] for item in store.messages(stamp)] == list(range(1, count + 1))
        assert store.pilot(stamp)["message_count"] == count


def test_batches_sent_with_stomp_are_stored_and_acknowledged(sqlite_store, queue):
    from pilot_server.logbook.clients.stompsend import StompSender

    stamps = [new_stamp() for _ in range(3)]
    items = pilot_batches(stamps, 4, 50)
    with StompSender("127.0.0.1", STOMP_PORT) as sender:
        sender.send_many("/queue/" + queue, items)
    # the STOMP plugin declared the queue durable; the consumer's own declaration matches it
    assert queue_depth(BROKER, queue) == len(items)
    running = RunningConsumer(sqlite_store, queue)
    try:
        wait_until(lambda: sqlite_store.counts()[1] == 600, what="600 messages stored")
        wait_until(lambda: queue_depth(BROKER, queue) == 0, what="the queue acknowledged")
    finally:
        running.stop()
    assert_stored_once_in_order(sqlite_store, stamps, 200)
    assert running.consumer.totals["stored"] == 600


def test_invalid_messages_are_rejected_and_acknowledged(sqlite_store, queue):
    from pilot_server.logbook.clients.stompsend import StompSender

    stamp = new_stamp()
    good = body(stamp, [1, 2])
    items = [
        (b"not json at all", {"pilot-token": token(stamp)}),
        (good, {}),  # no token
        (good, {"pilot-token": token(new_stamp())}),  # token of another pilot
        (good, {"pilot-token": token(stamp, ttl=-5)}),  # expired
        (body(stamp, range(1, 5002)), {"pilot-token": token(stamp)}),  # over the limit
        (good, {"pilot-token": token(stamp)}),  # the one good batch
    ]
    with StompSender("127.0.0.1", STOMP_PORT) as sender:
        sender.send_many("/queue/" + queue, items)
    running = RunningConsumer(sqlite_store, queue)
    try:
        wait_until(
            lambda: queue_depth(BROKER, queue) == 0 and sqlite_store.counts()[2] == 5,
            what="all acknowledged, 5 rejected",
        )
    finally:
        running.stop()
    assert [item["seq"] for item in sqlite_store.messages(stamp)] == [1, 2]
    reasons = sorted(row["reason"] for row in sqlite_store.rejected(10))
    assert [reason.split()[0] for reason in reasons] == ["400", "401", "401", "403", "413"]
    assert any("no pilot-token header" in reason for reason in reasons)
    assert any("token expired" in reason for reason in reasons)
    assert all(row["origin"].startswith("amqp 127.0.0.1:5672 " + queue) for row in sqlite_store.rejected(10))


def test_queued_messages_get_a_grace_after_their_token_expires():
    from pilot_server.logbook.receive.access import Access
    from pilot_server.logbook.receive.intake import Refused

    stamp = new_stamp()
    assert Access([SECRET], expiry_grace=3600).authenticate(token(stamp, ttl=-600)).name == stamp
    with pytest.raises(Refused, match="token expired"):
        Access([SECRET], expiry_grace=3600).authenticate(token(stamp, ttl=-3700))


def test_redelivered_and_resent_batches_are_stored_once(sqlite_store, queue):
    from pilot_server.logbook.clients.stompsend import StompSender

    stamp = new_stamp()
    items = pilot_batches([stamp], 3, 10)
    with StompSender("127.0.0.1", STOMP_PORT) as sender:
        sender.send_many("/queue/" + queue, items + items[1:] + items[:1])  # a pilot's retries and spool
    running = RunningConsumer(sqlite_store, queue)
    try:
        wait_until(
            lambda: queue_depth(BROKER, queue) == 0 and running.consumer.totals["deliveries"] == 6, what="6 deliveries"
        )
    finally:
        running.stop()
    assert_stored_once_in_order(sqlite_store, [stamp], 30)
    assert (running.consumer.totals["stored"], running.consumer.totals["duplicates"]) == (30, 30)


def test_a_consumer_killed_before_its_commit_loses_nothing(databases, queue, tmp_path):
    """The consumer receives a batch, waits for the database (a table lock held by the test), and
    is killed with SIGKILL: the broker redelivers it to the next consumer, which stores it once."""
    from pilot_server import tokens
    from pilot_server.logbook.clients.stompsend import StompSender
    from pilot_server.logbook.store.logstore import Store

    url = databases.create("postgresql")
    store = Store.open(url)
    secret_file = str(tmp_path / "secret")
    tokens.write_secret(secret_file, SECRET)
    stamp = new_stamp()
    locker = create_engine(url)
    connection = locker.connect()
    transaction = connection.begin()
    connection.execute(text("LOCK TABLE pilots IN ACCESS EXCLUSIVE MODE"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pilot_server.cli",
            "logbook",
            "consume",
            "--db",
            url,
            "--broker",
            BROKER,
            "--queue",
            queue,
            "--token-secret",
            secret_file,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with StompSender("127.0.0.1", STOMP_PORT) as sender:
            sender.send("/queue/" + queue, body(stamp, range(1, 101)), {"pilot-token": token(stamp)})
        name = url.rsplit("/", 1)[1]

        def consumer_waits_on_the_lock():
            with locker.connect() as probe:
                return probe.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE datname = :n AND wait_event_type = 'Lock'"),
                    {"n": name},
                ).scalar()

        wait_until(consumer_waits_on_the_lock, 30, 0.1, what="the consumer to receive and wait for the database")
        assert queue_depth(BROKER, queue) == 0  # delivered, not acknowledged
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        transaction.rollback()
        connection.close()
        locker.dispose()
    wait_until(lambda: queue_depth(BROKER, queue) == 1, 30, what="the broker to put the batch back")
    assert store.pilot(stamp) is None
    running = RunningConsumer(store, queue)
    try:
        wait_until(
            lambda: store.counts()[1] == 100 and queue_depth(BROKER, queue) == 0, what="the redelivered batch stored"
        )
    finally:
        running.stop()
        store.close()
    assert [item["seq"] for item in Store.open(url).messages(stamp)] == list(range(1, 101))


@pytest.fixture(scope="module")
def throwaway_postgres():
    cluster = ThrowawayPostgres()
    yield cluster
    cluster.drop()


def test_database_restarted_during_ingestion(throwaway_postgres, queue):
    """PostgreSQL restarts for real while the consumer ingests: nothing lost, nothing duplicated."""
    from pilot_server.logbook.clients.stompsend import StompSender
    from pilot_server.logbook.store.logstore import Store

    store = Store.open(throwaway_postgres.url)
    stamps = [new_stamp() for _ in range(10)]
    items = pilot_batches(stamps, 30, 20)  # 300 batches, 6,000 messages
    running = RunningConsumer(store, queue, flush_deliveries=10)
    try:
        with StompSender("127.0.0.1", STOMP_PORT) as sender:
            sender.send_many("/queue/" + queue, items[:100])
            wait_until(lambda: store.counts()[1] > 0, what="ingestion to start")
            restart = threading.Thread(target=throwaway_postgres.restart)
            restart.start()
            for index in range(100, len(items), 20):
                sender.send_many("/queue/" + queue, items[index : index + 20])
                time.sleep(0.05)
            restart.join(60)

        def all_stored():
            try:
                return store.counts()[1] == 6000 and queue_depth(BROKER, queue) == 0
            except Exception:
                return False

        wait_until(all_stored, 90, 0.2, what="6,000 messages after the restart")
    finally:
        running.stop()
    assert_stored_once_in_order(store, stamps, 600)
    store.close()


def test_broker_restarted_during_a_run(sqlite_store):
    """A RabbitMQ node is stopped and started again while pilots send and the consumer consumes:
    the senders resend what was not receipted, the consumer reconnects; every message once."""
    rabbit = ThrowawayRabbit()
    queue = "pilots2.logs"
    stamps = [new_stamp() for _ in range(5)]
    items = pilot_batches(stamps, 40, 10)  # 200 batches, 2,000 messages
    running = RunningConsumer(sqlite_store, queue, broker=rabbit.url)
    try:
        retries = []
        sender = threading.Thread(
            target=lambda: retries.append(stomp_send_reliably(rabbit.stomp_port, queue, items, pause=0.03))
        )
        sender.start()
        wait_until(lambda: sqlite_store.counts()[1] >= 200, what="ingestion to start")
        rabbit.stop()
        time.sleep(1)
        rabbit.start()
        sender.join(180)
        assert not sender.is_alive()
        wait_until(lambda: sqlite_store.counts()[1] == 2000, 120, 0.2, what="2,000 messages after the restart")
        wait_until(lambda: queue_depth(rabbit.url, queue) == 0, 30, what="the queue acknowledged")
    finally:
        running.stop()
        rabbit.remove()
    assert_stored_once_in_order(sqlite_store, stamps, 400)
    assert retries and retries[0] >= 1  # the restart was felt by the sender


def consumer_totals(text):
    """{name: count} of the summary a consumer logs when it stops."""
    import re

    match = re.search(r"consumer stopped: (.*)", text)
    assert match, text[-1500:]
    return dict((name, int(count)) for name, count in re.findall(r"(\w+) (\d+)", match.group(1)))


def test_three_consumers_store_every_message_once_even_when_one_is_killed(databases, queue, tmp_path):
    """Three `pilotctl logbook consume` processes on one queue and one PostgreSQL database, fed
    through STOMP while they run; the second is killed (SIGKILL) in the middle: the broker gives
    its unacknowledged deliveries to the others, and every message is stored exactly once."""
    from pilot_server import tokens
    from pilot_server.logbook.clients.stompsend import StompSender
    from pilot_server.logbook.store.logstore import Store

    url = databases.create("postgresql")
    store = Store.open(url)  # the schema, before three processes race to make it
    secret_file = str(tmp_path / "secret")
    tokens.write_secret(secret_file, SECRET)
    stamps = [new_stamp() for _ in range(12)]
    items = pilot_batches(stamps, 40, 10)  # 480 batches, 4,800 messages, each pilot's interleaved
    with StompSender("127.0.0.1", STOMP_PORT) as sender:
        sender.send_many("/queue/" + queue, items[:240])  # a backlog: each consumer holds deliveries
    processes, logs = [], []
    for index in range(3):
        logs.append(str(tmp_path / ("consumer%d.log" % index)))
        with open(logs[-1], "wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "pilot_server.cli",
                        "logbook",
                        "consume",
                        "--db",
                        url,
                        "--broker",
                        BROKER,
                        "--queue",
                        queue,
                        "--token-secret",
                        secret_file,
                        "--flush",
                        "5",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        wait_until(lambda: consumers_on(queue) == 3, 60, 0.1, what="three consumers on the queue")
        with StompSender("127.0.0.1", STOMP_PORT) as sender:
            wait_until(lambda: store.counts()[1] >= 600, 60, 0.05, what="ingestion to start")
            processes[1].send_signal(signal.SIGKILL)  # in the middle: the queue still holds a backlog
            assert processes[1].wait(10) == -signal.SIGKILL
            sender.send_many("/queue/" + queue, items[240:])
        wait_until(
            lambda: store.counts()[1] == 4800 and queue_depth(BROKER, queue) == 0,
            120,
            0.2,
            what="4,800 messages stored and the queue acknowledged",
        )
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    assert_stored_once_in_order(store, stamps, 400)
    assert store.counts()[2] == 0  # nothing rejected
    store.close()
    texts = [open(path).read() for path in logs]
    assert all("consuming %s" % queue in text for text in texts)
    survivors = [consumer_totals(texts[index]) for index in (0, 2)]
    assert all(totals["stored"] > 0 for totals in survivors), survivors  # both took part
    # the killed consumer held deliveries: the broker gave them to the survivors, flagged redelivered
    assert sum(totals["redelivered"] for totals in survivors) > 0, survivors
    assert sum(totals["stored"] for totals in survivors) <= 4800
    assert "consumer stopped" not in texts[1]


def consumers_on(queue):
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        if connection.is_open:
            connection.close()

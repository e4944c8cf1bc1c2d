"""The pilot's STOMP 1.2 client (pilot/logs/stomp.py) and the STOMP transport, against the real
RabbitMQ of the machine (its STOMP plugin on 127.0.0.1:61613; ./run-tests enables it).

Messages are read back with a SUBSCRIBE of the same client.  Most tests send to
``/exchange/amq.topic/<unique key>`` after subscribing to it, so the broker routes
them to the test's own auto-deleted queue and nothing is left behind.
"""

import json
import os
import socket
import time
import uuid

import pytest

import helpers
from support.tls_front import TlsProxy
from pilot import messages
from pilot.logs import stomp
from pilot.logs.logtransport import Credentials, Refused, SendError, make_transport

HOST, PORT = "127.0.0.1", int(os.environ.get("PILOT_TEST_STOMP_PORT", "61613"))
STAMP = "0123456789abcdef0123456789abcdef"


def broker_answers():
    try:
        sock = socket.create_connection((HOST, PORT), 2)
        sock.close()
        return True
    except (socket.error, OSError):
        return False


@pytest.fixture(scope="module")
def broker():
    if not broker_answers():
        pytest.skip("no STOMP broker on %s:%d (rabbitmq-plugins enable rabbitmq_stomp)" % (HOST, PORT))
    return HOST, PORT


def topic():
    return "/exchange/amq.topic/pilots2.test.%s" % uuid.uuid4().hex


def reader(destination):
    client = stomp.StompClient(HOST, PORT, "guest", "guest", timeout=10)
    client.subscribe(destination, ack="client-individual")
    return client


def read_all(client, count, timeout=10.0):
    frames = []
    deadline = time.time() + timeout
    while len(frames) < count and time.time() < deadline:
        frame = client.receive(max(0.1, deadline - time.time()))
        if frame is not None:
            client.ack(frame)
            frames.append(frame)
    return frames


def test_frames_round_trip():
    reader_ = stomp.FrameReader()
    # content-length is what lets a body hold a NUL; without it the frame ends at the first NUL
    data = stomp.encode_frame("SEND", [("content-length", "5"), ("destination", "/queue/a:b"),
                                       ("x-note", "line\nbreak\\")], b"bo\x00dy")
    for index in range(len(data)):        # byte by byte: frames are reassembled
        reader_.feed(data[index:index + 1])
        frame = reader_.next_frame()
        if index < len(data) - 1:
            assert frame is None
    assert frame.command == "SEND" and frame.body == b"bo\x00dy"
    assert frame.headers["destination"] == "/queue/a:b" and frame.headers["x-note"] == "line\nbreak\\"
    reader_.feed(b"\n\r\nRECEIPT\nreceipt-id:7\n\n\x00")      # heart-beats before a frame
    receipt = reader_.next_frame()
    assert receipt.command == "RECEIPT" and receipt.headers["receipt-id"] == "7"
    connect = stomp.encode_frame("CONNECT", [("login", "a:b")])
    assert b"login:a:b" in connect        # CONNECT headers are not escaped


def test_send_with_receipt_and_read_back(broker):
    destination = topic()
    sub = reader(destination)
    client = stomp.StompClient(HOST, PORT, "guest", "guest", timeout=10)
    try:
        client.send(destination, b'{"n": 1}', [("pilot-token", "pt1.abc"), ("persistent", "true")])
        assert client.connected and client.server.startswith("RabbitMQ")
        frames = read_all(sub, 1)
        assert frames[0].body == b'{"n": 1}'
        assert frames[0].headers["pilot-token"] == "pt1.abc"
        assert frames[0].headers["content-type"] == "application/json"
        client.close()                  # the connection is gone: the next send reconnects
        client.send(destination, b'{"n": 2}')
        assert read_all(sub, 1)[0].body == b'{"n": 2}'
    finally:
        client.disconnect()
        sub.disconnect()


def test_bad_credentials_are_refused(broker):
    client = stomp.StompClient(HOST, PORT, "guest", "not-the-passcode", timeout=10)
    with pytest.raises(stomp.StompRefused) as caught:
        client.connect()
    assert "not-the-passcode" not in str(caught.value)
    assert not client.connected


def test_nobody_listening():
    client = stomp.StompClient("127.0.0.1", helpers.free_port(), timeout=5)
    with pytest.raises(stomp.StompError):
        client.send("/queue/x", b"{}")


def test_transport_sends_batches_and_maps_refusals(broker):
    destination = topic()
    sub = reader(destination)
    body = messages.encode(messages.batch(STAMP, [messages.message(STAMP, 1, time.time(), "hello")]))
    url = "stomp://%s:%d%s" % (HOST, PORT, destination)
    transport = make_transport(url, Credentials("pt1.token"), STAMP, "vo", {})
    try:
        transport.send(body, 1)
        frame = read_all(sub, 1)[0]
        stamp, items = messages.decode_batch(frame.body)
        assert stamp == STAMP and items[0]["text"] == "hello"
        assert frame.headers["pilot-token"] == "pt1.token" and frame.headers["persistent"] == "true"
    finally:
        transport.close(2)
        sub.disconnect()
    bad = make_transport(url, Credentials(), STAMP, "vo", {"PILOT_STOMP_LOGIN": "guest",
                                                           "PILOT_STOMP_PASSCODE": "wrong"})
    with pytest.raises(Refused):
        bad.send(body, 1)
    down = make_transport("stomp://127.0.0.1:%d/queue/x" % helpers.free_port(), Credentials(), STAMP, "vo", {})
    with pytest.raises(SendError):
        down.send(body, 1)


def test_stomp_over_tls_verifies_the_broker(broker, certs):
    proxy = TlsProxy(helpers.server_ssl_context(certs), (HOST, PORT))
    destination = topic()
    sub = reader(destination)
    body = messages.encode(messages.batch(STAMP, [messages.message(STAMP, 1, time.time(), "over TLS")]))
    try:
        url = "stomp+ssl://localhost:%d%s" % (proxy.port, destination)
        transport = make_transport(url, Credentials(capath=certs.ca_dir), STAMP, "vo", {})
        transport.send(body, 1)
        assert messages.decode_batch(read_all(sub, 1)[0].body)[1][0]["text"] == "over TLS"
        transport.close(2)
        # without the test CA the broker's certificate is not trusted
        untrusted = make_transport(url, Credentials(), STAMP, "vo", {})
        with pytest.raises(SendError) as caught:
            untrusted.send(body, 1)
        assert "TLS" in str(caught.value)
    finally:
        sub.disconnect()
        proxy.close()


def test_a_durable_queue_as_in_production(broker):
    """/queue/NAME (what a pilot is given): the batch waits in the queue until read."""
    name = "pilots2.test.%s" % uuid.uuid4().hex
    destination = "/queue/%s" % name
    body = messages.encode(messages.batch(STAMP, [messages.message(STAMP, 1, time.time(), "queued")]))
    transport = make_transport("stomp://%s:%d%s" % (HOST, PORT, destination), Credentials(), STAMP, "vo", {})
    try:
        transport.send(body, 1)
        transport.close(2)
        sub = reader(destination)        # subscribes after the send: the message waited
        try:
            assert json.loads(read_all(sub, 1)[0].body.decode("utf-8"))["messages"][0]["text"] == "queued"
        finally:
            sub.disconnect()
    finally:
        delete_queue(name)


def delete_queue(name):
    """Best effort: the queue of a test is removed (rabbitmqctl, when this user may run it)."""
    from compat.net import _which

    tool = _which("rabbitmqctl") or (os.path.exists("/usr/sbin/rabbitmqctl") and "/usr/sbin/rabbitmqctl")
    if tool:
        try:
            helpers.run([tool, "-q", "delete_queue", name], "/", timeout=60)
        except (OSError, AssertionError):
            pass

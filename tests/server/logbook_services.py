"""Services that the reliability tests restart: throwaway ones, so the shared ones stay up.

Other engineers' tests use the machine's PostgreSQL and RabbitMQ at the same
time, so restarting those would break their runs.  Instead:

* ``ThrowawayPostgres``: a cluster of its own (``pg_createcluster``, the machine's
  PostgreSQL version, trust auth, a free port on 127.0.0.1), restarted for real
  with ``pg_ctlcluster ... restart``, dropped at the end;
* ``ThrowawayRabbit``: a RabbitMQ node of its own (``RABBITMQ_NODENAME`` and
  ports, its own Mnesia directory, the STOMP plugin on), stopped and started
  again for real, its files removed at the end.

Both need root (as the machine's services do) and the Debian tools of the
services; a missing tool fails the test with the reason.
"""

import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from support.ports import port_open, ports_below_ephemeral
from support.waiting import wait_until


def _run(command, env=None, timeout=120):
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(
            "%s failed (%d): %s" % (" ".join(command), done.returncode, done.stdout.decode("utf-8", "replace")[-800:])
        )
    return done.stdout.decode("utf-8", "replace")


class ThrowawayPostgres(object):
    def __init__(self):
        if not shutil.which("pg_createcluster"):
            pytest.fail("pg_createcluster (Debian's postgresql-common) is needed for the restart test")
        self.version = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")])[-1]
        self.name = "pilots2t_%s" % uuid.uuid4().hex[:8]
        self.port = ports_below_ephemeral(1)[0]
        _run(
            [
                "pg_createcluster",
                self.version,
                self.name,
                "--port",
                str(self.port),
                "--",
                "--auth-local=trust",
                "--auth-host=trust",
            ]
        )
        self.start()
        self.url = "postgresql://postgres@127.0.0.1:%d/postgres" % self.port

    def start(self):
        _run(["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, "start"])
        wait_until(lambda: port_open(self.port), 30, what="the throwaway PostgreSQL")

    def stop(self):
        _run(["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, "stop", "-m", "fast"])
        wait_until(lambda: not port_open(self.port), 30, what="the throwaway PostgreSQL to stop")

    def restart(self):
        _run(["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, "restart", "-m", "fast"])
        wait_until(lambda: port_open(self.port), 30, what="the throwaway PostgreSQL")

    def drop(self):
        subprocess.run(
            ["pg_dropcluster", "--stop", self.version, self.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )


class ThrowawayRabbit(object):
    def __init__(self):
        if not shutil.which("rabbitmq-server"):
            pytest.fail("rabbitmq-server is needed for the broker restart test")
        self.dir = tempfile.mkdtemp(prefix="pilots2-rabbit-")
        self.node = "pilots2t%s@localhost" % uuid.uuid4().hex[:8]
        # below the kernel's ephemeral range (32768-60999): a port picked there can be taken as the
        # local port of some other connection before the node binds it (seen: dist_port_already_used)
        self.amqp_port, self.stomp_port = ports_below_ephemeral(2)
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as handle:
            handle.write(
                "listeners.tcp.default = 127.0.0.1:%d\nstomp.listeners.tcp.1 = 127.0.0.1:%d\n"
                % (self.amqp_port, self.stomp_port)
            )
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as handle:
            handle.write("[rabbitmq_stomp].\n")
        shutil.chown(self.dir, "rabbitmq", "rabbitmq")
        for name in os.listdir(self.dir):
            shutil.chown(os.path.join(self.dir, name), "rabbitmq", "rabbitmq")
        os.chmod(self.dir, 0o755)
        self.env = dict(
            os.environ,
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_PORT=str(self.amqp_port),
            RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"),
            RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"),
            RABBITMQ_CONFIG_FILE=os.path.join(self.dir, "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.dir, "enabled_plugins"),
            RABBITMQ_PID_FILE=os.path.join(self.dir, "node.pid"),
        )
        self.url = "amqp://guest:guest@127.0.0.1:%d/" % self.amqp_port
        self.start()

    def start(self):
        # The node runs as a child in the foreground (not -detached), its console output in a file:
        # a boot that dies early (seen under heavy load, before it wrote any log) then says why.
        # One failed boot is retried once and both are described.
        failures = []
        for attempt in range(2):
            # Erlang's distribution port only matters while the node runs: a new one at each start
            self.env["RABBITMQ_DIST_PORT"] = str(ports_below_ephemeral(1)[0])
            console = os.path.join(self.dir, "console-%d.txt" % attempt)
            with open(console, "wb") as handle:
                self.process = subprocess.Popen(
                    ["rabbitmq-server"],
                    env=self.env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            try:
                wait_until(
                    lambda: (
                        self.process.poll() is not None or (port_open(self.amqp_port) and port_open(self.stomp_port))
                    ),
                    120,
                    0.2,
                    what="the throwaway RabbitMQ node",
                )
                if self.process.poll() is None:
                    return
                error = "the node exited with %s" % self.process.returncode
            except AssertionError as timeout:
                error = str(timeout)
            failures.append("%s (console: %s; log: %s)" % (error, self._tail(console), self._log_tail()))
            self._halt()
        raise AssertionError("; then ".join(failures))

    @staticmethod
    def _tail(path):
        try:
            with open(path, errors="replace") as handle:
                return handle.read()[-600:] or "empty"
        except OSError:
            return "none"

    def _log_tail(self):
        folder = os.path.join(self.dir, "log")
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return "no log directory"
        tails = []
        for name in names:
            with open(os.path.join(folder, name), errors="replace") as handle:
                tails.append("%s: %s" % (name, handle.read()[-400:]))
        return " | ".join(tails) or "empty log directory"

    def _halt(self):
        subprocess.run(
            ["rabbitmqctl", "-n", self.node, "stop"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=30)

    def stop(self):
        _run(["rabbitmqctl", "-n", self.node, "stop"], env=self.env)
        wait_until(lambda: not port_open(self.amqp_port), 30, what="the throwaway node to stop")
        self.process.wait(timeout=60)

    def remove(self):
        self._halt()
        shutil.rmtree(self.dir, ignore_errors=True)


def queue_depth(broker_url, queue):
    """Messages ready in a queue (a passive declare), or None if it does not exist."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        try:
            return channel.queue_declare(queue, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            return None
    finally:
        if connection.is_open:
            connection.close()


def delete_queue(broker_url, queue):
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    except Exception:
        return
    try:
        connection.channel().queue_delete(queue)
    finally:
        if connection.is_open:
            connection.close()


def stomp_send_reliably(port, queue, items, deadline_seconds=120, pause=0.0):
    """Send [(body, headers)] as a pilot does: one receipted frame at a time, reconnecting and
    resending whatever was not receipted; returns how many sends were retried."""
    from pilot_server.logbook.clients.stompsend import StompError, StompSender

    deadline = time.time() + deadline_seconds
    sender, retries, index = None, 0, 0
    while index < len(items):
        if time.time() > deadline:
            raise AssertionError("could not send %d batches within %d s" % (len(items) - index, deadline_seconds))
        try:
            if sender is None:
                sender = StompSender("127.0.0.1", port, timeout=10)
            sender.send("/queue/" + queue, items[index][0], items[index][1])
            index += 1
            time.sleep(pause)
        except (OSError, StompError):
            retries += 1
            if sender is not None:
                sender.close()
            sender = None
            time.sleep(0.2)
    if sender is not None:
        sender.close()
    return retries

"""Helpers and fixtures of the logbook tests: real databases, batches, tokens, a small PKI.

Databases are real: a SQLite file per test, and one fresh database per test
session on the machine's PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306),
named ``pilots2_test_<random>`` and dropped at the end.  Tests use their own
random stamps, so they share those databases without seeing each other.
Test modules import the fixtures they use from here.
"""

import datetime
import http.client
import json
import os
import ssl
import subprocess
import time
import uuid

import pytest

from pilot_server.worker import messages as wire

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MYSQL_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/"
BACKENDS = ("sqlite", "postgresql", "mariadb")
SECRET = b"logbook-test-secret-0123456789abcdef"


def new_stamp():
    return uuid.uuid4().hex


def make_messages(stamp, seqs, text="line %d", **fields):
    now = time.time()
    return [wire.message(stamp, seq, now + seq * 1e-3, text % seq if "%d" in text else text, **fields) for seq in seqs]


def body(stamp, seqs, **fields):
    return wire.encode(wire.batch(stamp, make_messages(stamp, seqs, **fields)))


def result_message(stamp, seq, exit_code=0, failed=None, reason=None):
    return wire.message(
        stamp,
        seq,
        time.time(),
        "pilot finished with exit code %d" % exit_code,
        kind="result",
        data={"pilot": {"exit_code": exit_code, "failed_command": failed, "reason": reason}},
    )


def token(stamp, secret=SECRET, **kwargs):
    from pilot_server import tokens

    return tokens.make_token(secret, stamp, **kwargs)


# -- databases -------------------------------------------------------------------------------


def _admin_engine(url):
    import sqlalchemy

    return sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


class Databases(object):
    """Creates and drops the session's PostgreSQL and MariaDB databases."""

    def __init__(self):
        self.created = []
        self.problems = {}

    def create(self, family):
        from sqlalchemy import text

        name = "pilots2_test_%s" % uuid.uuid4().hex[:10]
        admin = PG_ADMIN if family == "postgresql" else MYSQL_ADMIN
        try:
            engine = _admin_engine(admin)
            with engine.connect() as connection:
                connection.execute(text("CREATE DATABASE %s" % name))
            engine.dispose()
        except Exception as exc:
            pytest.fail(
                "%s at %s is needed by this test and cannot be used (.ci/services.sh starts it): %s"
                % (family, admin, " ".join(str(exc).split())[:300])
            )
        self.created.append((family, name))
        if family == "postgresql":
            return "postgresql://postgres@127.0.0.1:5432/%s" % name
        return "mysql+pymysql://root@127.0.0.1:3306/%s" % name

    def drop_all(self):
        from sqlalchemy import text

        for family, name in self.created:
            admin = PG_ADMIN if family == "postgresql" else MYSQL_ADMIN
            engine = _admin_engine(admin)
            try:
                with engine.connect() as connection:
                    if family == "postgresql":
                        connection.execute(
                            text(
                                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = :name AND pid <> pg_backend_pid()"
                            ),
                            {"name": name},
                        )
                    connection.execute(text("DROP DATABASE IF EXISTS %s" % name))
            finally:
                engine.dispose()


@pytest.fixture(scope="session")
def databases():
    dbs = Databases()
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def session_urls(databases):
    """One database per server family for the whole session (created when first asked)."""
    cache = {}

    def get(family):
        if family not in cache:
            cache[family] = databases.create(family)
        return cache[family]

    return get


@pytest.fixture(scope="session")
def session_stores(session_urls):
    from pilot_server.logbook.store.logstore import Store

    stores = {}

    def get(family):
        if family not in stores:
            stores[family] = Store.open(session_urls(family))
        return stores[family]

    yield get
    for store in stores.values():
        store.close()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def store(backend, session_stores, tmp_path):
    """A Store on each database family (SQLite: a new file; the others: the session database)."""
    from pilot_server.logbook.store.logstore import Store

    if backend == "sqlite":
        opened = Store.open("sqlite:///%s" % (tmp_path / "logbook.sqlite"))
        yield opened
        opened.close()
    else:
        yield session_stores(backend)


@pytest.fixture(params=BACKENDS)
def fresh_store(request, databases, tmp_path):
    """A Store on a new database of each family (the tests that need an empty one)."""
    from pilot_server.logbook.store.logstore import Store

    if request.param == "sqlite":
        url = "sqlite:///%s" % (tmp_path / "logbook.sqlite")
    else:
        url = databases.create(request.param)
    opened = Store.open(url)
    yield opened
    opened.close()


class Clock(object):
    """time.time() of the store or of the statistics: moved by the test."""

    def __init__(self, now):
        self.now = now

    def time(self):
        return self.now

    def sleep(self, seconds):
        time.sleep(seconds)


@pytest.fixture
def sqlite_store(tmp_path):
    from pilot_server.logbook.store.logstore import Store

    opened = Store.open("sqlite:///%s" % (tmp_path / "logbook.sqlite"))
    yield opened
    opened.close()


# -- HTTP ----------------------------------------------------------------------------------------


def post(url, path, payload, headers=None, context=None, method="POST"):
    """(status, decoded JSON body) of one request on a new connection."""
    scheme, _, rest = url.partition("://")
    host, port = rest.split(":")
    if scheme == "https":
        connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
    else:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, body=payload, headers=headers or {})
        response = connection.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw.decode("utf-8")) if raw else None)
    finally:
        connection.close()


def get_text(url, path, credential):
    """(status, body as text) of a GET with a bearer credential (pages as well as JSON answers)."""
    host, port = url.split("://")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request("GET", path, headers={"Authorization": "Bearer " + credential})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def bearer(value):
    return {"Authorization": "Bearer " + value, "Content-Type": "application/json"}


class RunningServer(object):
    """The logbook's front (receive/front.py) serving ``store`` on a free port, in a thread of this process."""

    def __init__(self, front, thread):
        self.front, self.thread = front, thread
        self.server = front.app  # .store, .access, ...
        self.url = front.url

    def stop(self):  # twice is fine
        self.front.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the front did not stop"


def start_server(
    store,
    secrets=(SECRET,),
    trusted_dns=(),
    admin_secrets=(),
    tls_context=None,
    require_registration=False,
    admin_dns=(),
    limits=None,
    metrics_tokens=(),
    threads=4,
):
    from pilot_server.logbook.receive import front as frontmodule
    from pilot_server.logbook.receive.access import Access
    from pilot_server.logbook.receive.routes import Service
    from pilot_server.logbook.web import pages

    app = Service(
        store,
        Access(secrets, trusted_dns, admin_secrets, admin_dns=admin_dns),
        require_registration,
        metrics_tokens=metrics_tokens,
        pages=pages,
    )
    front = frontmodule.Front(app, frontmodule.listen(("127.0.0.1", 0)), tls_context, limits, threads=threads)
    return RunningServer(front, frontmodule.serve_in_thread(front))


# -- a small PKI (cryptography) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA (hash links, as /etc/grid-security/certificates) and the logbook's certificate
    (``.server_files``: certificate, key)."""
    made = PKI(tmp_path_factory.mktemp("pki"))
    made.rehash()
    made.server_files = made.server()
    return made


class PKI(object):
    """A CA, a server certificate for 127.0.0.1, user certificates and RFC 3820 proxies, on disk."""

    def __init__(self, directory, ca_name="Pilots2 Test CA"):
        from cryptography.hazmat.primitives.asymmetric import ec

        self.dir = str(directory)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_name = self.name([("O", "Pilots2 Test"), ("CN", ca_name)])
        self.ca_cert = self._sign(self.ca_name, self.ca_key.public_key(), self.ca_name, self.ca_key, ca=True)
        self.ca_dir = os.path.join(self.dir, "certificates")
        os.makedirs(self.ca_dir)
        self.ca_file = self.write("certificates/ca.pem", [self.ca_cert])

    @staticmethod
    def name(parts):
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        oids = {
            "DC": NameOID.DOMAIN_COMPONENT,
            "O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "CN": NameOID.COMMON_NAME,
            "C": NameOID.COUNTRY_NAME,
        }
        return x509.Name([x509.NameAttribute(oids[key], value) for key, value in parts])

    def _sign(
        self, subject, public_key, issuer, issuer_key, ca=False, server=False, proxy=False, key_usage=True, days=2
    ):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
        )
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        elif proxy:
            # ProxyCertInfo (RFC 3820): SEQUENCE { SEQUENCE { id-ppl-inheritAll } }
            info = bytes.fromhex("300c300a06082b06010505071501")
            builder = builder.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14"), info), critical=True
            )
            builder = builder.add_extension(
                x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
            )
        else:
            builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            if key_usage:
                builder = builder.add_extension(
                    x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
                )
            if server:
                builder = builder.add_extension(
                    x509.SubjectAlternativeName(
                        [x509.DNSName("localhost"), x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
                    ),
                    critical=False,
                )
        return builder.sign(issuer_key, hashes.SHA256())

    def write(self, relative, certificates, key=None):
        from cryptography.hazmat.primitives import serialization

        path = os.path.join(self.dir, relative)
        with open(path, "wb") as handle:
            for certificate in certificates:
                handle.write(certificate.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            key_path = path[: -len(".pem")] + ".key.pem" if path.endswith(".pem") else path + ".key"
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(
                    key.private_bytes(
                        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                    )
                )
            return path, key_path
        return path

    def rehash(self):
        """OpenSSL hash links in the CA directory, as in /etc/grid-security/certificates."""
        subprocess.check_call(["openssl", "rehash", self.ca_dir])

    def server(self):
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._sign(
            self.name([("O", "Pilots2 Test"), ("CN", "localhost")]),
            key.public_key(),
            self.ca_name,
            self.ca_key,
            server=True,
        )
        return self.write("server.pem", [cert], key)

    def user(self, label, parts=None):
        """A user certificate: (certificate, key, slash DN, files (cert, key))."""
        from cryptography.hazmat.primitives.asymmetric import ec

        from pilot_server.logbook.receive.x509identity import slash_dn

        key = ec.generate_private_key(ec.SECP256R1())
        subject = self.name(parts or [("DC", "org"), ("DC", "pilots2"), ("OU", "People"), ("CN", label)])
        cert = self._sign(subject, key.public_key(), self.ca_name, self.ca_key)
        return cert, key, slash_dn(subject), self.write("%s.pem" % label, [cert], key)

    def proxy(self, label, issuer_cert, issuer_key, chain):
        """An RFC 3820 proxy of issuer; files: the proxy then `chain` (the issuer's chain) in one PEM."""
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            list(issuer_cert.subject.rdns)
            + [x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, str(int(time.time() * 1000)))])]
        )
        cert = self._sign(subject, key.public_key(), issuer_cert.subject, issuer_key, proxy=True)
        return cert, key, self.write("%s.pem" % label, [cert] + list(chain), key)

    def client_context(self, files=None):
        context = ssl.create_default_context(cafile=self.ca_file)
        if files:
            context.load_cert_chain(files[0], files[1])
        return context

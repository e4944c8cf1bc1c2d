"""A real DIRAC server on this machine, for the real-DIRAC tests and for a human.

    .ci/dirac-server.sh start [DIR]   # a server in DIR (default: a new temporary directory)
    .ci/dirac-server.sh env DIR       # the shell exports of its user client
    .ci/dirac-server.sh stop DIR      # stop its processes, drop its databases

``start`` uses the DIRAC release that ``.ci/provision-dirac.sh`` builds (DIRAC from PyPI in a
cached virtual environment), then:

1. makes a CA, a host certificate (localhost, 127.0.0.1) and a user certificate with openssl;
2. creates the databases in the machine's MariaDB, with a prefix of its own (``p2d<random>_``)
   and a user of its own, so that several servers and other tests never meet;
3. writes the server's dirac.cfg (it is the master CS) and the CS it serves: the registry (the
   user in groups dirac_user and dirac_pilot, the host), one site with one CE and queue, the
   sandbox storage element, and each service's section from the system's ConfigTemplate.cfg;
4. starts one ``dirac-service`` process per service (the Configuration Server, OptimizationMind and
   JobManager first, one after the other: see SERVICES) and one ``dirac-executor`` for the job
   optimizers, each on a free port, each in its own session; marks the site and the sandbox SE
   Active in the Resource Status System;
5. writes DIR/state.json (the PIDs, ports, databases) and DIR/env.sh (the client's environment).

``stop`` ends the processes by PID (SIGTERM, then SIGKILL) and drops the databases and the user.
Everything else stays in DIR (logs in DIR/logs) until DIR is removed.

This module needs Python 3.9+ with ``diraccfg`` (the project's .venv or the DIRAC venv have it).
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))  # run as a script too (.ci/dirac-server.sh)

from support.ports import port_open, ports_below_ephemeral  # noqa: E402

PROVISION = os.path.join(REPO, ".ci", "provision-dirac.sh")

VO = "pilots2"
SETUP = "Pilots2Test"
CS_NAME = "Pilots2Test"
SITE = "DIRAC.Pilots2.org"
CE = "ce.pilots2.test"
QUEUE = "pilots2-queue"
USER = "pilots2user"
USER_DN = "/O=Pilots2 Test/CN=pilots2 user"
HOST_DN = "/O=Pilots2 Test/CN=localhost"
CA_DN = "/O=Pilots2 Test/CN=Pilots2 DIRAC Test CA"
SANDBOX_SE = "ProductionSandboxSE"

# (system, service) in start order; the first STARTED_ALONE each wait for the one before: the CS;
# OptimizationMind, which JobManager connects to when it starts (its messages about new jobs are
# lost otherwise, until OptimizationMind's periodic rescan a minute later); JobManager before
# Matcher (each creates TaskQueueDB's tables and they race).
SERVICES = [
    ("Configuration", "Server"),
    ("WorkloadManagement", "OptimizationMind"),
    ("WorkloadManagement", "JobManager"),
    ("Framework", "ProxyManager"),
    ("ResourceStatus", "ResourceStatus"),
    ("WorkloadManagement", "JobStateUpdate"),
    ("WorkloadManagement", "JobMonitoring"),
    ("WorkloadManagement", "SandboxStore"),
    ("WorkloadManagement", "PilotManager"),
    ("WorkloadManagement", "Matcher"),
]
STARTED_ALONE = 3
EXECUTORS = [
    "WorkloadManagement/JobPath",
    "WorkloadManagement/JobSanity",
    "WorkloadManagement/InputData",
    "WorkloadManagement/JobScheduling",
]
# system -> its databases (those with a schema file get it loaded; the others are made by DIRAC)
DATABASES = {
    "WorkloadManagement": ["JobDB", "JobLoggingDB", "PilotAgentsDB", "TaskQueueDB", "SandboxMetadataDB"],
    "Framework": ["ProxyDB"],
    "ResourceStatus": ["ResourceStatusDB", "ResourceManagementDB"],
}
# What a pilot calls beyond each service's template rules (RegisterPilot's dirac-admin-add-pilot).
PILOT_RIGHTS = {
    ("WorkloadManagement", "PilotManager"): ["getPilotInfo", "addPilotReferences"],
}
START_SECONDS = 180


class ServerError(Exception):
    """The server could not be installed or started; the message says why."""


class PortTaken(ServerError):
    """A service found its port taken by another process."""


# -- the DIRAC release ---------------------------------------------------------------------------


def provision():
    """The DIRAC venv (built once per machine by .ci/provision-dirac.sh)."""
    started = time.time()
    proc = subprocess.run([PROVISION], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if "is ignored" not in line]
        raise ServerError(
            "cannot install DIRAC (.ci/provision-dirac.sh exit %d): %s"
            % (proc.returncode, " | ".join(lines[-5:]) or "no output")
        )
    venv = proc.stdout.strip().splitlines()[-1]
    print("dirac-server: DIRAC release %s (%.1f s)" % (venv, time.time() - started), file=sys.stderr)
    return venv


# -- small helpers -------------------------------------------------------------------------------


def free_port():
    return ports_below_ephemeral(1)[0]


def run(args, what, **kwargs):
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, **kwargs)
    if proc.returncode != 0:
        raise ServerError("%s failed (exit %d): %s" % (what, proc.returncode, proc.stdout.strip()[-600:]))
    return proc.stdout


def mysql(sql, database=None):
    args = ["mysql", "-h", "127.0.0.1", "-u", "root", "--batch", "--skip-column-names"]
    if database:
        args += ["-D", database]
    return run(args, "mysql", input=sql)


def write(path, text, mode=0o644):
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def timed(label, started):
    print("dirac-server: %s (%.1f s)" % (label, time.time() - started), file=sys.stderr)


# -- certificates --------------------------------------------------------------------------------


def make_pki(directory):
    """A CA (hash-linked in certificates/), the host's and the user's certificates."""
    pki = os.path.join(directory, "pki")
    cadir = os.path.join(directory, "certificates")
    grid = os.path.join(directory, "server", "etc", "grid-security")
    for folder in (pki, cadir, grid):
        os.makedirs(folder)
    ca_key, ca_cert = os.path.join(pki, "ca.key"), os.path.join(cadir, "pilots2-dirac-ca.pem")
    run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            CA_DN,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            ca_key,
            "-out",
            ca_cert,
        ],
        "openssl (CA)",
    )

    def sign(name, dn, extensions, cert_path, key_path):
        csr, ext = os.path.join(pki, name + ".csr"), os.path.join(pki, name + ".ext")
        run(
            ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", dn, "-keyout", key_path, "-out", csr],
            "openssl (%s key)" % name,
        )
        write(ext, extensions)
        run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                csr,
                "-CA",
                ca_cert,
                "-CAkey",
                ca_key,
                "-CAcreateserial",
                "-days",
                "30",
                "-sha256",
                "-extfile",
                ext,
                "-out",
                cert_path,
            ],
            "openssl (%s certificate)" % name,
        )
        os.chmod(key_path, 0o400)

    sign(
        "host",
        HOST_DN,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        os.path.join(grid, "hostcert.pem"),
        os.path.join(grid, "hostkey.pem"),
    )
    sign(
        "user",
        USER_DN,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
        os.path.join(pki, "usercert.pem"),
        os.path.join(pki, "userkey.pem"),
    )
    run(["openssl", "rehash", cadir], "openssl rehash")
    return cadir


# -- configuration -------------------------------------------------------------------------------


def dirac_package(venv):
    for name in os.listdir(os.path.join(venv, "lib")):
        path = os.path.join(venv, "lib", name, "site-packages", "DIRAC")
        if os.path.isdir(path):
            return path
    raise ServerError("no DIRAC package in %s" % venv)


def cs_content(state, venv):
    """The CS the master serves: a diraccfg CFG."""
    from diraccfg import CFG

    ports, db = state["ports"], state["db"]
    url = lambda system, service: "dips://localhost:%d/%s/%s" % (ports["%s/%s" % (system, service)], system, service)
    content = {
        "DIRAC": {
            "Setup": SETUP,
            "VirtualOrganization": VO,
            "Configuration": {"Name": CS_NAME, "Version": "1", "MasterServer": url("Configuration", "Server")},
            "Setups": {SETUP: {}},
        },
        "DiracX": {"DisabledVOs": VO},
        "Registry": {
            "DefaultGroup": "dirac_user",
            "Users": {USER: {"DN": USER_DN, "Email": "pilots2user@localhost"}},
            "Groups": {
                "dirac_user": {"Users": USER, "Properties": "NormalUser", "VO": VO, "AutoUploadProxy": "True"},
                "dirac_pilot": {"Users": USER, "Properties": "GenericPilot, LimitedDelegation", "VO": VO},
                "dirac_admin": {
                    "Users": USER,
                    "Properties": "Operator, FullDelegation, ProxyManagement, "
                    "ServiceAdministrator, JobAdministrator, CSAdministrator, SiteManager",
                },
            },
            "Hosts": {
                "localhost": {
                    "DN": HOST_DN,
                    "Properties": "TrustedHost, CSAdministrator, JobAdministrator, "
                    "FullDelegation, ProxyManagement, Operator, SiteManager, ServiceAdministrator",
                }
            },
            "VO": {VO: {"VOAdmin": USER, "DefaultGroup": "dirac_user"}},
        },
        "Resources": {
            "Sites": {
                "DIRAC": {
                    SITE: {
                        "Name": "Pilots2",
                        "CE": CE,
                        "SE": SANDBOX_SE,
                        "CEs": {
                            CE: {
                                "CEType": "Local",
                                "Architecture": "x86_64",
                                "OS": "Debian",
                                "Queues": {
                                    QUEUE: {
                                        "maxCPUTime": "10000",
                                        "SI00": "2500",
                                        "MaxTotalJobs": "10",
                                        "MaxWaitingJobs": "10",
                                        "VO": VO,
                                    }
                                },
                            }
                        },
                    }
                }
            },
            "StorageElements": {
                SANDBOX_SE: {
                    "BackendType": "DISET",
                    "AccessProtocols": "dips",
                    "WriteProtocols": "dips",
                    "DIP": {
                        "Host": "localhost",
                        "Port": str(ports["WorkloadManagement/SandboxStore"]),
                        "Protocol": "dips",
                        "Path": "/WorkloadManagement/SandboxStore",
                        "Access": "remote",
                    },
                }
            },
        },
        "Operations": {"Defaults": {"Pilot": {"Version": state["version"]}}},
        "Systems": {
            "Databases": {"User": db["user"], "Password": db["password"], "Host": "127.0.0.1", "Port": "3306"},
            # No OpenSearch here: the job parameters it would keep are lost, with a warning.
            "NoSQLDatabases": {
                "Host": "127.0.0.1",
                "Port": str(ports["OpenSearch (none)"]),
                "User": "none",
                "Password": "none",
                "SSL": "False",
            },
            # The JobAgent waits SubmissionDelay (10 s) after each job it starts: not here.
            "WorkloadManagement": {"Agents": {"JobAgent": {"SubmissionDelay": "0"}}},
        },
    }
    cfg = CFG().loadFromDict(content)
    package = dirac_package(venv)
    templates = {}
    for system, service in SERVICES:
        if system not in templates:
            templates[system] = CFG().loadFromFile(os.path.join(package, system + "System", "ConfigTemplate.cfg"))
        section = templates[system].getAsCFG("Services/%s" % service)
        extra = {"Port": str(ports["%s/%s" % (system, service)])}
        if (system, service) == ("Configuration", "Server"):
            extra["HandlerPath"] = "DIRAC/ConfigurationSystem/Service/ConfigurationHandler.py"  # the DISET one
        if (system, service) == ("WorkloadManagement", "SandboxStore"):
            extra.update({"BasePath": os.path.join(state["dir"], "sandboxes"), "LocalSE": SANDBOX_SE})
        for method in PILOT_RIGHTS.get((system, service), []):
            rule = section.getOption("Authorization/%s" % method) or section.getOption("Authorization/Default")
            rules = [item.strip() for item in (rule or "").split(",") if item.strip()]
            extra.setdefault("Authorization", {})[method] = ", ".join(rules + ["GenericPilot"])
        section = section.mergeWith(CFG().loadFromDict(extra))
        cfg = cfg.mergeWith(
            CFG().loadFromDict({"Systems": {system: {"Services": {}, "URLs": {service: url(system, service)}}}})
        )
        target = cfg["Systems"][system]["Services"]
        target.createNewSection(service, contents=section)
    for name in EXECUTORS:
        system, executor = name.split("/")
        template = templates.get(system) or CFG().loadFromFile(
            os.path.join(package, system + "System", "ConfigTemplate.cfg")
        )
        executors = cfg["Systems"][system]
        if "Executors" not in executors:
            executors.createNewSection("Executors")
        executors["Executors"].createNewSection(executor, contents=template.getAsCFG("Executors/%s" % executor))
    for system, names in DATABASES.items():
        databases = cfg["Systems"][system]
        if "Databases" not in databases:
            databases.createNewSection("Databases")
        for name in names:
            databases["Databases"].createNewSection(name, contents=CFG().loadFromDict({"DBName": db["prefix"] + name}))
    return cfg


def local_cfg(state, server):
    """The dirac.cfg of the server (the master CS, with its host certificate) or of the user's client."""
    from diraccfg import CFG

    configuration = {"Servers": state["cs_url"]}
    if server:
        configuration.update({"Name": CS_NAME, "Master": "yes"})
    return CFG().loadFromDict(
        {
            "DIRAC": {
                "Setup": SETUP,
                "VirtualOrganization": VO,
                "Configuration": configuration,
                "Security": {"UseServerCertificate": "yes" if server else "no"},
            }
        }
    )


# -- databases -----------------------------------------------------------------------------------


def create_databases(state, venv):
    db = state["db"]
    package = dirac_package(venv)
    statements = []
    for user_host in ("localhost", "127.0.0.1", "%"):
        statements.append("CREATE USER '%s'@'%s' IDENTIFIED BY '%s';" % (db["user"], user_host, db["password"]))
        statements.append(
            "GRANT ALL PRIVILEGES ON `%s%%`.* TO '%s'@'%s';" % (db["prefix"].replace("_", "\\_"), db["user"], user_host)
        )
    for system, names in DATABASES.items():
        for name in names:
            statements.append("CREATE DATABASE `%s%s`;" % (db["prefix"], name))
    mysql("\n".join(statements) + "\n")
    for system, names in DATABASES.items():
        for name in names:
            schema = os.path.join(package, system + "System", "DB", name + ".sql")
            if not os.path.exists(schema):
                continue
            with open(schema) as handle:
                text = handle.read()
            # The schema files name their database (USE JobDB;): ours carry the prefix.
            lines = [line for line in text.splitlines() if not line.strip().upper().startswith("USE ")]
            mysql("\n".join(lines) + "\n", database=db["prefix"] + name)


def drop_databases(state):
    db = state["db"]
    names = mysql(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '%s%%';"
        % db["prefix"].replace("_", "\\_")
    ).split()
    statements = ["DROP DATABASE IF EXISTS `%s`;" % name for name in names]
    statements += ["DROP USER IF EXISTS '%s'@'%s';" % (db["user"], host) for host in ("localhost", "127.0.0.1", "%")]
    mysql("\n".join(statements) + "\n")


def mark_active(state):
    """Site and sandbox SE Active in the RSS tables (created by the ResourceStatus service)."""
    database = state["db"]["prefix"] + "ResourceStatusDB"
    deadline = time.time() + 60
    while time.time() < deadline:
        tables = mysql("SHOW TABLES;", database=database).split()
        if "SiteStatus" in tables and "ResourceStatus" in tables:
            break
        time.sleep(1)
    else:
        raise ServerError("the ResourceStatus service did not create its tables in %s" % database)
    now = "UTC_TIMESTAMP()"
    rows = [
        "INSERT INTO SiteStatus (Name, StatusType, Status, ElementType, Reason, DateEffective, "
        "LastCheckTime, TokenOwner, TokenExpiration, VO) VALUES ('%s', 'all', 'Active', 'Site', 'pilots2 test', "
        "%s, %s, 'rs_svc', '9999-12-31 23:59:59', 'all');" % (SITE, now, now)
    ]
    for access in ("ReadAccess", "WriteAccess", "CheckAccess", "RemoveAccess"):
        rows.append(
            "INSERT INTO ResourceStatus (Name, StatusType, Status, ElementType, Reason, DateEffective, "
            "LastCheckTime, TokenOwner, TokenExpiration, VO) VALUES ('%s', '%s', 'Active', 'StorageElement', "
            "'pilots2 test', %s, %s, 'rs_svc', '9999-12-31 23:59:59', 'all');" % (SANDBOX_SE, access, now, now)
        )
    mysql("\n".join(rows) + "\n", database=database)


# -- processes -----------------------------------------------------------------------------------


def server_environment(state):
    env = dict(os.environ)
    for name in ("DIRACSYSCONFIG", "X509_USER_PROXY", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    env.update(
        {
            "DIRAC_ROOT_PATH": os.path.join(state["dir"], "server"),
            "X509_CERT_DIR": state["cadir"],
            "PATH": os.path.join(state["venv"], "bin") + os.pathsep + env.get("PATH", ""),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def launch(state, name, args):
    log = open(os.path.join(state["dir"], "logs", name.replace("/", "_") + ".log"), "ab")
    try:
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=server_environment(state),
            cwd=os.path.join(state["dir"], "server"),
            start_new_session=True,
        )
    finally:
        log.close()
    state["pids"][name] = proc.pid
    save_state(state)
    return proc


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie of ours is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def wait_ports(state, names, seconds=START_SECONDS):
    deadline = time.time() + seconds
    waiting = list(names)
    while waiting:
        for name in list(waiting):
            if port_open(state["ports"][name], timeout=1):
                waiting.remove(name)
            elif not alive(state["pids"][name]):
                tail = log_tail(state, name)
                raise (PortTaken if "Address already in use" in tail else ServerError)(
                    "%s ended at start: %s" % (name, tail)
                )
        if waiting and time.time() > deadline:
            raise ServerError("%s did not listen within %d s: %s" % (waiting[0], seconds, log_tail(state, waiting[0])))
        if waiting:
            time.sleep(0.3)


def log_tail(state, name, lines=8):
    path = os.path.join(state["dir"], "logs", name.replace("/", "_") + ".log")
    try:
        with open(path, errors="replace") as handle:
            return " | ".join(line.strip() for line in handle.read().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def save_state(state):
    path = os.path.join(state["dir"], "state.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def load_state(directory):
    try:
        with open(os.path.join(directory, "state.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise ServerError("no DIRAC server state in %s: %s" % (directory, exc))


# -- the server ----------------------------------------------------------------------------------


class DiracServer(object):
    """A started server: its directory, state and the client environment."""

    def __init__(self, state):
        self.state = state
        self.dir = state["dir"]
        self.venv = state["venv"]

    @property
    def cs_url(self):
        return self.state["cs_url"]

    def client_environment(self, base=None):
        """The user's client: the venv's tools, the client cfg, the CA directory, the user certificate."""
        env = dict(base if base is not None else os.environ)
        for name in ("DIRACSYSCONFIG", "PYTHONPATH", "VIRTUAL_ENV"):
            env.pop(name, None)
        env.update(client_exports(self.state))
        env["PATH"] = os.path.join(self.venv, "bin") + os.pathsep + env.get("PATH", "")
        return env

    def client(self, args, cwd=None, extra=None, timeout=120):
        """Run a DIRAC client command as the user (``extra``: more environment); (exit code, output)."""
        env = self.client_environment()
        env.update(extra or {})
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            universal_newlines=True,
            timeout=timeout,
        )
        return proc.returncode, proc.stdout

    def proxy_init(self, group, path, upload=True):
        """dirac-proxy-init -g GROUP into PATH (-N: no upload to the ProxyManager)."""
        code, out = self.client(
            ["dirac-proxy-init", "-g", group] + ([] if upload else ["-N"]), extra={"X509_USER_PROXY": path}
        )
        if code != 0 or not os.path.exists(path):
            raise ServerError("dirac-proxy-init -g %s failed (exit %d): %s" % (group, code, out.strip()[-600:]))
        return path

    def sql(self, query, database):
        """Rows (lists of strings) of a query on one of the server's databases (JobDB, PilotAgentsDB ...)."""
        out = mysql(query, database=self.state["db"]["prefix"] + database)
        return [line.split("\t") for line in out.splitlines() if line]

    def stop(self):
        stop(self.state)


def client_exports(state):
    pki = os.path.join(state["dir"], "pki")
    return {
        "DIRAC_ROOT_PATH": os.path.join(state["dir"], "client"),
        "X509_CERT_DIR": state["cadir"],
        "X509_USER_CERT": os.path.join(pki, "usercert.pem"),
        "X509_USER_KEY": os.path.join(pki, "userkey.pem"),
        "X509_USER_PROXY": os.path.join(state["dir"], "client", "user.proxy"),
    }


def pilot_options(state, preinstalled=True):
    """What a SiteDirector of this server would give a pilot (and the client of the venv)."""
    options = [
        "-S",
        SETUP,
        "-r",
        state["version"],
        "-C",
        state["cs_url"],
        "-N",
        CE,
        "-Q",
        QUEUE,
        "-n",
        SITE,
        "--wnVO",
        VO,
    ]
    return options + (["--preinstalledEnv", os.path.join(state["venv"], "diracosrc")] if preinstalled else [])


def env_script(state):
    lines = [
        "# the user client of the local DIRAC server in %s" % state["dir"],
        'export PATH=%s:"$PATH"' % quote(os.path.join(state["venv"], "bin")),
    ]
    lines += ["export %s=%s" % (name, quote(value)) for name, value in sorted(client_exports(state).items())]
    lines.append("unset DIRACSYSCONFIG PYTHONPATH")
    lines.append(
        "# a pilot (with a proxy of group dirac_pilot in $X509_USER_PROXY): python3 dist/pilot.pyz %s"
        % " ".join(quote(option) for option in pilot_options(state))
    )
    return "\n".join(lines) + "\n"


def quote(value):
    import shlex

    return shlex.quote(value)


def start(directory=None, venv=None, attempts=3):
    """Install if needed, configure and start a server; returns a DiracServer."""
    started = time.time()
    venv = venv or provision()
    directory = os.path.abspath(directory or tempfile.mkdtemp(prefix="pilots2-dirac-"))
    if os.path.exists(os.path.join(directory, "state.json")):
        raise ServerError("%s already holds a DIRAC server (stop it first)" % directory)
    for attempt in range(1, attempts + 1):
        try:
            state = start_once(directory, venv)
            break
        except PortTaken as exc:
            if attempt == attempts:
                raise
            print("dirac-server: %s; starting again on other ports" % str(exc)[:200], file=sys.stderr)
            shutil.rmtree(directory)
    timed("DIRAC %s server ready, CS %s" % (state["version"], state["cs_url"]), started)
    return DiracServer(state)


def start_once(directory, venv):
    os.makedirs(directory, exist_ok=True)
    for sub in ("logs", "sandboxes", os.path.join("client", "etc")):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
    tag = secrets.token_hex(4)
    names = ["%s/%s" % pair for pair in SERVICES]
    ports = dict(
        zip(names + ["OpenSearch (none)"], ports_below_ephemeral(len(names) + 1))
    )  # nothing listens on the last
    state = {
        "dir": directory,
        "venv": venv,
        "version": open(os.path.join(venv, ".complete")).read().strip(),
        "ports": ports,
        "pids": {},
        "started": time.time(),
        "cs_url": "dips://localhost:%d/Configuration/Server" % ports["Configuration/Server"],
        "db": {"prefix": "p2d%s_" % tag, "user": "p2d%s" % tag, "password": secrets.token_hex(16)},
    }
    save_state(state)
    try:
        step = time.time()
        state["cadir"] = make_pki(directory)
        create_databases(state, venv)
        etc = os.path.join(directory, "server", "etc")
        content = cs_content(state, venv)
        content.writeToFile(os.path.join(etc, CS_NAME + ".cfg"))
        server = local_cfg(state, server=True)
        # the master reads its own service section before it loads the CS it serves
        server.createNewSection("Systems").createNewSection(
            "Configuration", contents=content.getAsCFG("Systems/Configuration")
        )
        server.writeToFile(os.path.join(etc, "dirac.cfg"))
        local_cfg(state, server=False).writeToFile(os.path.join(directory, "client", "etc", "dirac.cfg"))
        write(os.path.join(directory, "env.sh"), env_script(state))
        save_state(state)
        timed("certificates, databases and configuration in %s" % directory, step)
        step = time.time()
        for name in names[:STARTED_ALONE]:
            launch(state, name, ["dirac-service", name])
            wait_ports(state, [name])
        for name in names[STARTED_ALONE:]:
            launch(state, name, ["dirac-service", name])
        wait_ports(state, names[STARTED_ALONE:])
        mark_active(state)
        launch(state, "Executors", ["dirac-executor"] + EXECUTORS)
        wait_ports(state, names)  # again: a port another process held looked open at first
        timed("%d services and the executors started" % len(names), step)
    except BaseException:
        stop(state)
        raise
    return state


def stop(state, grace=10.0):
    pids = state.get("pids", {})
    for name, pid in pids.items():
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + grace
    for name, pid in pids.items():
        while alive(pid) and time.time() < deadline:
            time.sleep(0.2)
        if alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
    state["pids"] = {}
    if state.get("db"):
        try:
            drop_databases(state)
        except ServerError as exc:
            print("dirac-server: %s" % exc, file=sys.stderr)
    if os.path.isdir(state.get("dir", "")):
        save_state(state)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="dirac-server", description="a local DIRAC server for tests")
    parser.add_argument("action", choices=["start", "stop", "env", "status"])
    parser.add_argument("dir", nargs="?", help="the server's directory (start: default a new temporary one)")
    options = parser.parse_args(argv)
    try:
        if options.action == "start":
            server = start(options.dir)
            print(server.dir)
            return 0
        if not options.dir:
            parser.error("%s needs the server's directory" % options.action)
        state = load_state(options.dir)
        if options.action == "stop":
            count = len(state["pids"])
            stop(state)
            print("dirac-server: %d processes stopped, databases %s* dropped" % (count, state["db"]["prefix"]))
        elif options.action == "env":
            sys.stdout.write(env_script(state))
        else:
            for name, pid in sorted(state["pids"].items()):
                print("%-40s pid %-7d %s" % (name, pid, "running" if alive(pid) else "ENDED"))
            if not state["pids"]:
                print("dirac-server: stopped")
        return 0
    except ServerError as exc:
        print("dirac-server: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The real pilot.pyz against a real DIRAC 9.1 server, to a real job.

Nothing here is a double: the server is DIRAC from PyPI, started once for the session
(dirac_server.py); jobs are submitted with ``dirac-wms-job-submit`` as its user; the pilot is this
checkout's pyz, run as a SiteDirector would run it (its options, the pilot proxy of group
dirac_pilot, the CA directory), under each Python of the machine, with the DIRAC client given by
``--preinstalledEnv``, through the batch wrapper of ``pilotctl wrapper``, or installing the client
from PyPI itself.  It logs into a ``pilotctl logbook serve`` on SQLite.

Each successful run is checked three ways: the pilot's own result; DIRAC (the job Done, its output
sandbox holding what it printed, the pilot in PilotAgentsDB with its stamp, site and DB12); the
logbook (the pilot Done at the same site and CE, with the same DB12, the job's id in its log).

A job carries a tag of its own and its pilot requires that tag (``-t T --requiredTag T``), so a
pilot only ever takes its own test's job.
"""

import datetime
import json
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

import dirac_server
from conftest import INTERPRETERS, PILOTCTL, interpreter, report

DONE_JOB = '#!/bin/sh\necho "hello from a real DIRAC job $1"\n'
FAILING_JOB = '#!/bin/sh\necho "about to fail $1"\nexit 3\n'


# -- DIRAC's side --------------------------------------------------------------------------------


def job_description(folder, script, token):
    """A job running ``script token`` with the tag ``token``: its JDL file in ``folder``."""
    os.makedirs(folder)
    executable = os.path.join(folder, "job.sh")
    with open(executable, "w") as handle:
        handle.write(script)
    os.chmod(executable, 0o755)
    jdl = os.path.join(folder, "job.jdl")
    with open(jdl, "w") as handle:
        handle.write(
            'JobName = "pilots2-%s";\nExecutable = "job.sh";\nArguments = "%s";\n'
            'InputSandbox = {"%s"};\nStdOutput = "std.out";\nStdError = "std.err";\n'
            'OutputSandbox = {"std.out", "std.err"};\nTags = {"%s"};\nCPUTime = 100;\n'
            % (token, token, executable, token)
        )
    return jdl


def submit(dirac, jdls):
    """The job ids, in order, of one dirac-wms-job-submit of the JDL files (``queued`` waits for them)."""
    code, out = dirac.client(["dirac-wms-job-submit"] + list(jdls))
    ids = re.findall(r"^JobID = (\d+)$", out, re.M)
    assert code == 0 and len(ids) == len(jdls), "dirac-wms-job-submit failed (exit %d): %s" % (code, out[-2000:])
    return ids


def queued(dirac, job_ids, seconds=120):
    """Wait until the optimizers put the jobs into TaskQueues: a JobAgent asking earlier misses them."""
    deadline = time.time() + seconds
    while True:
        found = set(
            row[0]
            for row in dirac.sql("SELECT JobId FROM tq_Jobs WHERE JobId IN (%s);" % ", ".join(job_ids), "TaskQueueDB")
        )
        waiting = [job_id for job_id in job_ids if job_id not in found]
        if not waiting:
            return
        if time.time() > deadline:
            status = dirac.sql(
                "SELECT JobID, Status, MinorStatus FROM Jobs WHERE JobID IN (%s);" % ", ".join(waiting), "JobDB"
            )
            raise AssertionError("jobs never reached a TaskQueue: %s" % status)
        time.sleep(0.5)


def job_status(dirac, job_id):
    code, out = dirac.client(["dirac-wms-job-status", job_id])
    match = re.search(r"JobID=%s .*Status=(\w+);" % job_id, out)
    assert code == 0 and match, out[-2000:]
    return match.group(1), out


def job_output(dirac, job_id, folder):
    """std.out of the job's output sandbox, fetched with dirac-wms-job-get-output."""
    code, out = dirac.client(["dirac-wms-job-get-output", job_id], cwd=folder)
    path = os.path.join(folder, job_id, "std.out")
    assert code == 0 and os.path.exists(path), "no output sandbox (exit %d): %s" % (code, out[-2000:])
    with open(path) as handle:
        return handle.read()


def pilot_row(dirac, stamp):
    rows = dirac.sql(
        "SELECT PilotStamp, PilotJobReference, GridSite, DestinationSite, Queue, VO, BenchMark, "
        "Status, CurrentJobID FROM PilotAgents WHERE PilotStamp = '%s';" % stamp,
        "PilotAgentsDB",
    )
    assert len(rows) == 1, "PilotAgentsDB has %d rows for stamp %s" % (len(rows), stamp)
    return dict(zip(["stamp", "reference", "site", "ce", "queue", "vo", "db12", "status", "job"], rows[0]))


# -- the pilot's side ----------------------------------------------------------------------------


def new_token():
    return "p2-%s" % uuid.uuid4().hex[:12]


def pilot_args(dirac, token, *extra):
    """What a SiteDirector gives the pilot, one JobAgent cycle, the job's tag, a quick DB12, ``extra``
    (the DIRAC client: --preinstalledEnv, or the pip way)."""
    return (
        dirac_server.pilot_options(dirac.state, preinstalled=False)
        + ["-M", "1", "-t", token, "--requiredTag", token, "--db12=quick", "--PollingTime=5"]
        + list(extra)
    )


def pilot_env(dirac, proxy, **extra):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C",
        "X509_CERT_DIR": dirac.state["cadir"],
        "PILOT_LOG_HANDOFF": "off",
    }  # no hand-off of logs through the machine's /var/tmp
    if proxy:
        env["X509_USER_PROXY"] = proxy
    env.update(extra)
    return env


class Run(object):
    """A finished pilot: exit code, output, work directory, pilot_result.json."""

    def __init__(self, code, output, work):
        self.code, self.output, self.work = code, output, work
        with open(os.path.join(work, "pilot_result.json")) as handle:
            self.result = json.load(handle)
        self.pilot = self.result["pilot"]

    def command(self, name):
        return [entry for entry in self.result["commands"] if entry["name"] == name][0]

    def failed_line(self):
        lines = [line for line in self.output.splitlines() if "] Failed: " in line]
        assert len(lines) == 1, self.output[-3000:]
        return lines[0].split("] Failed: ", 1)[1]


def assert_job_done(dirac, run, stamp, job_id, token, folder):
    """The whole story: the pilot's result, DIRAC's job and pilot records."""
    assert run.code == 0, run.output[-5000:]
    agent = run.command("LaunchAgent")["details"]
    assert agent["job_ids"] == [job_id], agent
    status, out = job_status(dirac, job_id)
    assert status == "Done", out
    assert job_output(dirac, job_id, folder) == "hello from a real DIRAC job %s\n" % token
    row = pilot_row(dirac, stamp)
    db12 = run.command("ConfigureCPURequirements")["details"]["db12"]["score"]
    assert row["site"] == dirac_server.SITE and row["ce"] == dirac_server.CE and row["queue"] == dirac_server.QUEUE
    assert row["vo"] == dirac_server.VO
    assert abs(float(row["db12"]) - db12) < 0.051, (row, db12)  # DIRAC keeps it to one decimal
    assert row["status"] == "Done" and row["job"] == job_id, row
    return row, db12


def assert_logbook_story(logbook, stamp, exit_code, db12=None, job_id=None, reason=None, ce=dirac_server.CE):
    """The logbook holds the pilot's run: its state, site, CE, DB12, the job it ran, its reason."""
    store = logbook.store()
    try:
        deadline = time.time() + 60
        while True:
            row = store.pilot(stamp)
            if row is not None and row["exit_code"] is not None:
                break
            assert time.time() < deadline, "the logbook has no result of pilot %s:\n%s" % (stamp, logbook.log()[-2000:])
            time.sleep(0.5)
        texts = [item["text"] for item in store.messages(stamp)]
        commands = store.commands(stamp)
    finally:
        store.close()
    assert row["exit_code"] == exit_code and row["status"] == ("Done" if exit_code == 0 else "Failed"), row
    assert row["site"] == dirac_server.SITE and row["ce"] == ce, row
    assert commands and commands[0]["name"] == "CheckWorkerNode", commands
    if db12 is not None:
        assert abs(row["db12"] - db12) < 0.051, row
    if job_id is not None:
        assert any(re.search(r"JobAgent \w+: Received\W+JobID=%s\b" % job_id, text) for text in texts), texts[-20:]
    if reason is not None:
        assert row["reason"] == reason, row


class Process(object):
    """A pilot (or its wrapper) started in ``cwd`` (also its HOME) and a session of its own, its
    output in a file."""

    def __init__(self, argv, cwd, env):
        os.makedirs(cwd, exist_ok=True)
        self.out_path = cwd + ".out"
        with open(self.out_path, "w") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=dict(env, HOME=cwd),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def finish(self, timeout):
        """(exit code, output) once it ended; no traceback in the output."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        with open(self.out_path, errors="replace") as handle:
            output = handle.read()
        assert self.process.returncode not in (-9, -15, 143), "the pilot did not end within %d s:\n%s" % (
            timeout,
            output[-5000:],
        )
        assert "Traceback" not in output, output[-5000:]
        return self.process.returncode, output

    def kill(self):
        """SIGTERM (the pilot stops its JobAgent and payload, the wrapper passes it on), then SIGKILL."""
        for signum, seconds in ((signal.SIGTERM, 90), (signal.SIGKILL, 10)):
            if self.process.poll() is not None:
                return
            try:
                os.killpg(self.process.pid, signum)
                self.process.wait(seconds)
            except (OSError, subprocess.TimeoutExpired):
                pass


def run_pilot(python, pyz, work, args, env, timeout=600):
    code, output = Process([python, pyz] + args, work, env).finish(timeout)
    return Run(code, output, work)


def wrapper_script(folder, signed_pyz, logbook, stamp, args):
    """The SiteDirector's batch wrapper: ``pilotctl wrapper --variant batch --token-secret``."""
    script = os.path.join(folder, "pilot-job.sh")
    pyz, public_key = signed_pyz
    made = subprocess.run(
        PILOTCTL
        + [
            "wrapper",
            "--variant",
            "batch",
            "--artifact",
            pyz,
            "--trust",
            public_key,
            "--output",
            script,
            "--stamp",
            stamp,
            "--token-secret",
            logbook.secret,
            "--",
        ]
        + args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stdout
    return script


class Started(object):
    """A job of its own and the pilot meant for it: ``start()`` once the job is submitted and
    queued, then ``finish()`` waits and gives the pilot's Run."""

    def __init__(self, folder, dirac, job):
        self.folder, self.dirac = folder, dirac
        self.token, self.stamp = new_token(), uuid.uuid4().hex
        self.job_folder = os.path.join(folder, "job")
        self.jdl = job_description(self.job_folder, job, self.token)
        self.job_id = self.process = self.work = None

    def start(self, logbook, signed_pyz, python, extra, wrapped=False, timeout=600, **env):
        self.timeout = timeout
        dirac, args = self.dirac, pilot_args(self.dirac, self.token, "-g", logbook.url, *extra)
        if wrapped:  # the wrapper makes its work directory in PILOT_WORK_BASE and gives the stamp
            self.base = os.path.join(self.folder, "slot")
            script = wrapper_script(self.folder, signed_pyz, logbook, self.stamp, args)
            self.process = Process(
                ["/bin/sh", script],
                self.base,
                pilot_env(dirac, dirac.pilot_proxy, PILOT_PYTHON=python, PILOT_WORK_BASE=self.base, **env),
            )
        else:
            self.work = os.path.join(self.folder, "pilot")
            os.makedirs(self.work)
            self.process = Process(
                [python, signed_pyz[0]] + args + ["--pilotUUID", self.stamp],
                self.work,
                pilot_env(
                    dirac, dirac.pilot_proxy, PILOT_LOGBOOK_TOKEN_FILE=logbook.token_file(self.stamp, self.work), **env
                ),
            )

    def finish(self):
        code, output = self.process.finish(self.timeout)
        work = self.work
        if work is None:
            found = [os.path.join(self.base, name) for name in os.listdir(self.base) if name.startswith("pilot.")]
            assert len(found) == 1, output[-3000:]
            work = found[0]
        return Run(code, output, work)


# -- every pilot that runs a job, started together -----------------------------------------------

MATRIX = ["py26", "py27", "py36", "py313"]
PIP_PYTHON = "py311"  # DIRAC 9.1 needs 3.11+; the pip way makes its venv with the pilot's own Python


# the tests that take their pilot from ``runs``: the case each needs (the matrix's: its env_name)
CASE_OF_TEST = {
    "test_a_pilot_through_the_batch_wrapper_runs_a_real_job": "wrapper",
    "test_the_pip_way_installs_the_dirac_client_from_pypi_and_runs_a_real_job": "pip",
    "test_a_job_that_fails": "failing job",
}


def selected_cases(items):
    """The cases of the tests selected in this session (-k, a node id): only their pilots start."""
    cases = set()
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "env_name" in callspec.params and "runs" in item.fixturenames:
            cases.add(callspec.params["env_name"])
        elif getattr(item, "originalname", item.name) in CASE_OF_TEST:
            cases.add(CASE_OF_TEST[item.originalname])
    return cases


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory, dirac, signed_pyz, logbook):
    """One pilot per case below, each with its own job, all started at once: they mostly wait on
    DIRAC (the pip way on PyPI too), and one after the other they would cost the sum of their runs.
    A case whose Python is absent is left out (its test skips, saying so)."""
    preinstalled = ["--preinstalledEnv", os.path.join(dirac.venv, "diracosrc")]
    pins = os.path.join(dirac_server.REPO, "tests", "real_dirac", "requirements-dirac.txt")
    # pip's cache of .ci/provision-dirac.sh: what it compiled (M2Crypto, mysqlclient) is not compiled again
    pip_cache = os.path.join(os.environ.get("PILOTS2_CACHE", os.path.expanduser("~/.cache/pilots2")), "pip")
    cases = dict((name, (name, DONE_JOB, preinstalled, {})) for name in MATRIX)
    cases.update(
        {
            "wrapper": ("py27", DONE_JOB, preinstalled, {"wrapped": True}),
            "failing job": ("py313", FAILING_JOB, preinstalled, {}),
            "pip": (
                PIP_PYTHON,
                DONE_JOB,
                ["--install-methods=venv", "--pipInstallOptions=--no-deps -r %s" % pins],
                {"timeout": 1800, "PIP_CACHE_DIR": pip_cache},
            ),
        }
    )
    wanted = selected_cases(request.session.items)
    order = sorted(case for case, plan in cases.items() if plan[0] in INTERPRETERS and case in wanted)
    started = dict(
        (case, Started(str(tmp_path_factory.mktemp(case.replace(" ", "-"))), dirac, cases[case][1])) for case in order
    )
    try:
        begin = time.time()
        for case, job_id in zip(order, submit(dirac, [started[case].jdl for case in order])):
            started[case].job_id = job_id
        queued(dirac, [started[case].job_id for case in order])
        report(request.config, "%d job(s) submitted and queued in %.1f s" % (len(order), time.time() - begin))
        for case in order:
            env_name, job, extra, options = cases[case]
            started[case].start(logbook, signed_pyz, INTERPRETERS[env_name], extra, **options)
        yield started
    finally:
        for entry in started.values():
            if entry.process is not None:
                entry.process.kill()


def assert_ran_a_job(case, runs, dirac, logbook):
    entry = runs[case]
    run = entry.finish()
    row, db12 = assert_job_done(dirac, run, entry.stamp, entry.job_id, entry.token, entry.job_folder)
    assert_logbook_story(logbook, entry.stamp, 0, db12, entry.job_id)
    return run, row


@pytest.mark.parametrize("env_name", MATRIX)
def test_a_pilot_runs_a_real_job_with_the_preinstalled_client(env_name, runs, dirac, logbook):
    interpreter(env_name)
    run, row = assert_ran_a_job(env_name, runs, dirac, logbook)
    assert run.command("InstallDIRAC")["details"]["method"] == "preinstalled"
    assert run.pilot["python"].startswith(env_name[2] + "." + env_name[3:]), run.pilot["python"]
    assert row["reference"] == runs[env_name].stamp  # no batch system here: the stamp is the reference


def test_a_pilot_through_the_batch_wrapper_runs_a_real_job(runs, dirac, logbook):
    """The SiteDirector's path: the wrapper (pilotctl wrapper, the token inside) run by /bin/sh."""
    interpreter("py27")
    run, row = assert_ran_a_job("wrapper", runs, dirac, logbook)
    assert run.pilot["stamp"] == runs["wrapper"].stamp
    assert "pilot.pyz" in run.output and run.pilot["python"].startswith("2.7")


def test_the_pip_way_installs_the_dirac_client_from_pypi_and_runs_a_real_job(runs, dirac, logbook):
    """InstallDIRAC's venv way, no preinstalled release: the pilot makes a venv and pip-installs DIRAC
    itself.  DIRAC requires gfal2-python, which does not build here (DIRACOS brings it on a real
    node): the pins of .ci/provision-dirac.sh are given with --no-deps, as a site would give its own."""
    interpreter(PIP_PYTHON)
    run, row = assert_ran_a_job("pip", runs, dirac, logbook)
    assert run.command("InstallDIRAC")["details"]["method"] == "venv"
    assert "pip install DIRAC[pilot]==%s" % dirac.state["version"] in run.output
    assert os.path.exists(os.path.join(run.work, "diracenv", "bin", "dirac-agent"))


def test_a_job_that_fails(runs, dirac, logbook):
    """The job exits 3: DIRAC marks it Failed and keeps its output; the JobAgent gives the slot up
    (StopOnApplicationFailure) and the pilot ends 17 saying which job failed."""
    interpreter("py313")
    entry = runs["failing job"]
    run = entry.finish()
    assert run.code == 17, run.output[-5000:]
    assert run.pilot["failed_command"] == "LaunchAgent"
    assert run.pilot["reason"] == (
        "the JobAgent stopped after job %s: Error during a payload execution (payload exit code 1)" % entry.job_id
    ), run.pilot
    assert run.failed_line() == "LaunchAgent: %s" % run.pilot["reason"]
    status, out = job_status(dirac, entry.job_id)
    assert status == "Failed" and "Application Finished With Errors" in out, out
    assert job_output(dirac, entry.job_id, entry.job_folder) == "about to fail %s\n" % entry.token
    assert pilot_row(dirac, entry.stamp)["job"] == entry.job_id
    assert_logbook_story(logbook, entry.stamp, 17, job_id=entry.job_id, reason=run.pilot["reason"])


# -- failures against the real server: each with its exit code and one Failed: line -------------


def failing_run(tmp_path, dirac, signed_pyz, logbook, proxy, *extra, **env):
    stamp = uuid.uuid4().hex
    work = str(tmp_path / "pilot")
    os.makedirs(work)
    args = pilot_args(
        dirac,
        new_token(),
        "--preinstalledEnv",
        os.path.join(dirac.venv, "diracosrc"),
        "-g",
        logbook.url,
        "--pilotUUID",
        stamp,
        *extra,
    )
    env.setdefault("PILOT_LOGBOOK_TOKEN_FILE", logbook.token_file(stamp, work))
    run = run_pilot(interpreter("py27"), signed_pyz[0], work, args, pilot_env(dirac, proxy, **env))
    run.stamp = stamp
    assert run.failed_line() == "%s: %s" % (run.pilot["failed_command"], run.pilot["reason"])
    assert "\n" not in run.pilot["reason"]
    return run


def test_a_ce_that_is_not_in_the_cs(tmp_path, dirac, signed_pyz, logbook):
    run = failing_run(tmp_path, dirac, signed_pyz, logbook, dirac.pilot_proxy, "-N", "not-in-the-cs.pilots2.test")
    assert run.code == 16, run.output[-3000:]
    assert run.pilot["failed_command"] == "CheckCECapabilities"
    assert (
        "Path /Resources/Sites/DIRAC/%s/CEs/not-in-the-cs.pilots2.test does not exist" % dirac_server.SITE
        in run.pilot["reason"]
    ), run.pilot
    assert_logbook_story(logbook, run.stamp, 16, reason=run.pilot["reason"], ce="not-in-the-cs.pilots2.test")


def test_the_cs_down(tmp_path, dirac, signed_pyz, logbook):
    closed = dirac_server.free_port()
    down = "dips://localhost:%d/Configuration/Server" % closed
    run = failing_run(tmp_path, dirac, signed_pyz, logbook, dirac.pilot_proxy, "-C", down)
    assert run.code == 16, run.output[-3000:]
    reason = run.pilot["reason"]
    assert reason.startswith(
        "dirac-resource-get-parameters: no configuration server answered: Error while updating from %s: " % down
    ), reason
    assert "Connection refused" in reason


def test_an_expired_proxy(tmp_path, dirac, signed_pyz, logbook):
    proxy = expired_proxy(dirac, str(tmp_path / "expired.proxy"))
    run = failing_run(tmp_path, dirac, signed_pyz, logbook, proxy)
    assert run.code == 12, run.output[-3000:]
    assert run.pilot["failed_command"] == "CheckWorkerNode"
    assert re.match(
        r"proxy %s expired 1h \d+m ago \(/O=Pilots2 Test/CN=pilots2 user/CN=\d+\)$" % re.escape(proxy),
        run.pilot["reason"],
    ), run.pilot
    assert_logbook_story(logbook, run.stamp, 12, reason=run.pilot["reason"])


def test_a_missing_proxy_file(tmp_path, dirac, signed_pyz, logbook):
    missing = str(tmp_path / "no-such.proxy")
    run = failing_run(tmp_path, dirac, signed_pyz, logbook, missing)
    assert run.code == 12, run.output[-3000:]
    assert run.pilot["failed_command"] == "CheckWorkerNode"
    assert run.pilot["reason"].startswith("proxy unusable: ") and missing in run.pilot["reason"], run.pilot


def test_no_proxy_at_all(tmp_path, dirac, signed_pyz, logbook):
    """No $X509_USER_PROXY and no --cert: a warning first, then DIRAC finds no proxy to talk to its CS."""
    default = "/tmp/x509up_u%d" % os.getuid()
    if os.path.exists(default):
        pytest.skip("%s exists on this machine: DIRAC would use it" % default)
    run = failing_run(tmp_path, dirac, signed_pyz, logbook, None)
    assert run.code == 12, run.output[-3000:]
    assert run.pilot["reason"] == (
        "dirac-resource-get-parameters: no configuration server answered: Error while "
        "updating from %s: No proxy found" % dirac.cs_url
    ), run.pilot
    assert "no credentials: $X509_USER_PROXY is not set and --cert was not given" in run.output


# -- helpers -------------------------------------------------------------------------------------


def expired_proxy(dirac, path):
    """An RFC 3820 proxy of the real user that expired an hour ago (dirac-proxy-init makes none)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    pki = os.path.join(dirac.dir, "pki")
    with open(os.path.join(pki, "usercert.pem"), "rb") as handle:
        user = x509.load_pem_x509_certificate(handle.read())
    with open(os.path.join(pki, "userkey.pem"), "rb") as handle:
        user_key = serialization.load_pem_private_key(handle.read(), None)
    key = rsa.generate_private_key(65537, 2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name(
        list(user.subject.rdns)
        + [x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, str(int(time.time())))])]
    )
    proxy = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(user.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=13))
        .not_valid_after(now - datetime.timedelta(hours=1))
        .add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14"), bytes.fromhex("300c300a06082b06010505071501")
            ),
            critical=True,
        )
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .sign(user_key, hashes.SHA256())
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(proxy.public_bytes(serialization.Encoding.PEM))
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
        )
        handle.write(user.public_bytes(serialization.Encoding.PEM))
    return path

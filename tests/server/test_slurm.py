"""Pilots as jobs of a real Slurm: ``pilotctl submit --backend slurm``, end to end.

A private one-node cluster is started by ``.ci/slurm.sh`` (munged, slurmctld, slurmd as plain
processes, its own ports, state and cluster name; KillWait 30 s) and stopped at the end.  It
never skips: when Slurm cannot be installed or started, the tests fail and say why.

The flow is a SiteDirector's: the signed pyz -> batch wrapper -> ``sbatch`` -> the wrapper and the
pilot in a Slurm job -> the pilot logs to ``pilotctl logbook serve`` (HTTPS, SQLite, started here);
``--wait`` polls squeue and reports Slurm's states.  The pilots drive the DIRAC release test double
(tests/doubles/dirac): a CVMFS-style release and a server directory per scenario with its own jobs.

Scenarios: the pilot's view of Slurm (flavour, job id, ``-c``/``--mem`` allocation, time limit) under Python
2.7 and the host's; the wrapper's work directory in ``$TMPDIR`` and its clean-up; walltime
expiry and ``scancel`` (SIGTERM to every process of the job: the pilot stops its children,
writes its result, tells the logbook and ends 143 before Slurm's SIGKILL); two pilots of one
node sharing the DB12 cache; sbatch refusals; the raw payload (the pilot's bytes after the script) through
sbatch.
"""

import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import INTERPRETERS, REPO
from logbook_support import PKI
from support.waiting import wait_until
from test_logging_end_to_end import PILOTCTL, Serve, open_store, read

SLURM_SH = os.path.join(REPO, ".ci", "slurm.sh")
MAKER = os.path.join(REPO, "tests", "doubles", "dirac", "make_release.py")
KILLWAIT = 30
PYTHONS = dict(INTERPRETERS)


# -- the cluster, the logbook, the release ------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """{"dir", "env"}: a running private cluster; its environment points Slurm's commands at it."""
    directory = str(tmp_path_factory.mktemp("slurm"))
    env = dict(os.environ, PILOTS2_SLURM_CPUS="8", PILOTS2_SLURM_MEMORY="4096", PILOTS2_SLURM_KILLWAIT=str(KILLWAIT))
    started = time.time()
    try:
        done = subprocess.run(
            ["bash", SLURM_SH, "start", directory],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("Slurm did not start within 900 s (.ci/slurm.sh start %s)" % directory)
    if done.returncode != 0:
        pytest.fail(
            "Slurm could not start (.ci/slurm.sh start, exit code %d): %s"
            % (done.returncode, (done.stderr or done.stdout).strip()[-3000:]),
            pytrace=False,
        )
    sys.stdout.write("\nSlurm started in %.1f s: %s\n" % (time.time() - started, done.stdout.strip()))
    cluster = {"dir": directory, "env": dict(os.environ, SLURM_CONF=os.path.join(directory, "slurm.conf"))}
    yield cluster
    subprocess.run(["bash", SLURM_SH, "stop", directory], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)


def slurm_cmd(slurm, *argv):
    done = subprocess.run(
        list(argv),
        env=slurm["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    assert done.returncode == 0, "%s: %s" % (" ".join(argv), done.stderr)
    return done.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory, signed_pyz, keys):
    """The logbook (pilotctl logbook serve on SQLite), its secrets, the DIRAC double, a host cert."""
    from pilot_server import tokens

    folder = tmp_path_factory.mktemp("site")
    pki = PKI(folder / "pki")
    pki.rehash()
    pki.server_files = pki.server()
    secrets = {}
    for name in ("token", "admin"):
        secrets[name] = str(folder / ("%s.secret" % name))
        tokens.write_secret(secrets[name], tokens.generate_secret())
    db = "sqlite:///%s" % (folder / "logbook.sqlite")
    serve = Serve(str(folder), db, pki, secrets["token"])
    serve.argv += ["--admin-token-file", secrets["admin"]]
    serve.start()
    release = str(folder / "release")
    made = subprocess.run(
        [sys.executable, MAKER, "--version", "9.0.0", "--out", release],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    certs = folder / "hostcerts"
    certs.mkdir()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/DC=org/DC=test/CN=pilot.slurm.test",
            "-keyout",
            str(certs / "hostkey.pem"),
            "-out",
            str(certs / "hostcert.pem"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = open_store(db)
    yield {
        "folder": str(folder),
        "pki": pki,
        "secrets": secrets,
        "serve": serve,
        "store": store,
        "release": release,
        "certs": str(certs),
        "pyz": signed_pyz,
        "trust": keys.public["a"],
    }
    store.close()
    serve.stop()


def new_server(site, name, *jobs):
    """A DIRAC server directory of the double with the given jobs (argument lists)."""
    server = os.path.join(site["folder"], "server-" + name)
    for argv in ([MAKER, "--new-server", server, "--no-job"],) + tuple(
        [MAKER, "--add-job", server, "--"] + list(job) for job in jobs
    ):
        done = subprocess.run(
            [sys.executable] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    return server


def pilot_options(site, server, *extra):
    return [
        "-S",
        "Slurm-Setup",
        "-r",
        "9.0.0",
        "-C",
        "file://" + server,
        "-N",
        "ce.test.local",
        "-Q",
        "default",
        "-n",
        "LCG.Slurm.test",
        "--wnVO",
        "demo",
        "-M",
        "1",
        "--cert",
        "--certLocation=" + site["certs"],
        "--CVMFS_locations=" + os.path.join(site["release"], "cvmfs"),
        "--PollingTime=0",
        "--StopAfterFailedMatches=1",
        "--heartbeat=0",
    ] + list(extra)


def submit_argv(site, workdir, *extra):
    return (
        PILOTCTL
        + [
            "submit",
            "--backend",
            "slurm",
            "--workdir",
            workdir,
            "--artifact",
            site["pyz"],
            "--trust",
            site["trust"],
            "--token-secret",
            site["secrets"]["token"],
            "--logbook",
            "https://localhost:%d" % site["serve"].port,
            "--ca",
            site["pki"].ca_dir,
            "--admin-token-file",
            site["secrets"]["admin"],
            "--poll-interval",
            "1",
        ]
        + list(extra)
    )


def submit_env(slurm, **extra):
    """The submitter's environment (sbatch hands it to the jobs): no stray pilot, X509 or DIRAC settings."""
    env = dict(
        (key, value)
        for key, value in slurm["env"].items()
        if not key.startswith(("X509_", "PILOT_", "DIRAC_", "PYTHON", "TMPDIR"))
    )
    env.update({"PILOT_PYTHON": sys.executable, "LANG": "C", "PILOT_LOG_HANDOFF": "off"})
    env.update(extra)
    return env


def submit(slurm, site, workdir, sbatch_args=(), pilot=(), env=None, background=False, extra=()):
    """pilotctl submit --backend slurm; the jobs' $TMPDIR (the wrapper's work directory) in WORKDIR/tmp."""
    if env is None:
        env = submit_env(slurm, TMPDIR=os.path.join(workdir, "tmp"))
    if env.get("TMPDIR"):
        os.makedirs(env["TMPDIR"], exist_ok=True)
    argv = submit_argv(site, workdir, *(["--sbatch-arg=" + arg for arg in sbatch_args] + list(extra)))
    argv += ["--"] + list(pilot)
    kwargs = dict(env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if background:
        return subprocess.Popen(argv, **kwargs)
    done = subprocess.run(argv, timeout=600, **kwargs)
    return done.returncode, done.stdout, done.stderr


def submitted(out):
    """[(stamp, slurm job id)] from pilotctl submit's output."""
    return [
        (match.group(1), int(match.group(2)))
        for match in re.finditer(r"^submitted pilot ([0-9a-f]{32}): slurm job (\d+) in ", out, re.M)
    ]


def job_file(workdir, stamp, name):
    return read(os.path.join(workdir, stamp, name))


def pilot_log(workdir, stamp):
    """The pilot's own log, copied by the wrapper into the job directory."""
    return job_file(workdir, stamp, "pilot-%s.out" % stamp)


def pilot_result(workdir, stamp):
    with open(os.path.join(workdir, stamp, "pilot-%s.result.json" % stamp)) as handle:
        return json.load(handle)


def logbook_text(site, stamp):
    return "\n".join(message["text"] for message in site["store"].messages(stamp))


def processes_with(marker):
    """PIDs of live processes whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    if marker.encode() in handle.read().replace(b"\0", b" "):
                        found.append(int(entry))
            except OSError:
                pass
    return found


# -- the walltime pilot starts first: its minute runs while the other tests do -------------------------

WALLTIME_PAYLOAD = "sleep 6071"
CANCEL_PAYLOAD = "sleep 6072"


@pytest.fixture(scope="module")
def walltime_run(slurm, site, tmp_path_factory):
    """A pilot in a job of --time=1 (one minute) whose payload ignores SIGTERM and runs for 100 min."""
    server = new_server(
        site, "walltime", ["/bin/sh", "-c", "trap '' TERM; echo payload-started; exec %s" % WALLTIME_PAYLOAD]
    )
    workdir = str(tmp_path_factory.mktemp("walltime"))
    process = submit(
        slurm,
        site,
        workdir,
        ["--time=1"],
        pilot_options(site, server, "--db12=quick"),
        background=True,
        extra=["--wait"],
    )
    yield {"process": process, "workdir": workdir, "site": site}
    if process.poll() is None:  # its test failed early: do not leave it polling
        process.terminate()
        process.communicate(timeout=60)


@pytest.fixture(autouse=True)
def _walltime_first(walltime_run):
    """Every test of this module starts the walltime pilot (once) before it runs."""


# -- the tests -----------------------------------------------------------------------------------------


def test_the_pilot_sees_slurm_its_job_and_its_allocation(slurm, site, tmp_path):
    """-c 2 --mem 700: processors and memory from Slurm; flavour SSHSLURM with the job id; under 2.7 too."""
    server = new_server(
        site, "allocation", ["/bin/sh", "-c", "echo hello-from-slurm"], ["/bin/sh", "-c", "echo hello-from-slurm"]
    )
    pythons = [("host", sys.executable)] + [(name, PYTHONS[name]) for name in ("py27",) if name in PYTHONS]
    runs = []
    for name, python in pythons:
        workdir = str(tmp_path / name)
        scratch = str(tmp_path / (name + "-scratch"))
        os.makedirs(scratch)
        env = submit_env(slurm, PILOT_PYTHON=python, TMPDIR=scratch)
        payload = ["--payload", "raw"] if name == "py27" else []  # bytes after the script: sbatch takes them
        code, out, err = submit(
            slurm,
            site,
            workdir,
            ["--cpus-per-task=2", "--mem=700"],
            pilot_options(site, server, "--db12=quick"),
            env=env,
            extra=["--wait", "--cleanup"] + payload,
        )
        runs.append((name, python, workdir, scratch, code, out, err))
    for name, python, workdir, scratch, code, out, err in runs:
        assert code == 0, out + err
        [(stamp, job_id)] = submitted(out)
        assert "pilot %s: Done (exit code 0; Slurm job %d COMPLETED)" % (stamp, job_id) in out
        log = pilot_log(workdir, stamp)
        assert (
            "flavour SSHSLURM, pilot reference sshslurm://ce.test.local/%d, batch system SLURM (job %d)"
            % (job_id, job_id)
            in log
        )
        assert "processors: 2 ($SLURM_CPUS_ON_NODE; node has " in log
        assert "memory: 700 MB ($SLURM_MEM_PER_NODE)" in log
        assert "/LocalSite/BatchSystemInfo/JobID=%d" % job_id in log and "BatchSystemInfo/Type=SLURM" in log
        assert "/LocalSite/BatchSystemInfo/Parameters/Queue=pilots" in log
        assert "NumberOfProcessors=2" in log and "hello-from-slurm" in log
        # the same story in the logbook
        pilot = site["store"].pilot(stamp)
        assert (pilot["status"], pilot["exit_code"], pilot["site"], pilot["ce"]) == (
            "Done",
            0,
            "LCG.Slurm.test",
            "ce.test.local",
        )
        assert "batch system SLURM (job %d)" % job_id in logbook_text(site, stamp)
        shown = [item["state"] for item in site["store"].states(stamp)]
        assert shown[0] == "Submitted" and shown[-2:] == ["Running", "Done"], shown
        assert set(shown) <= {"Submitted", "Waiting", "Running", "Done"}, shown
        status = json.loads(job_file(workdir, stamp, "job.json"))
        assert (status["backend"], status["job_id"], status["state"], status["slurm_state"], status["exit_code"]) == (
            "slurm",
            job_id,
            "Done",
            "COMPLETED",
            0,
        )
        # the wrapper: its Python, its work directory in the job's $TMPDIR, removed at the end (--cleanup)
        wrapper_out = job_file(workdir, stamp, "job.out")
        version = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            stdout=subprocess.PIPE,
            universal_newlines=True,
        ).stdout.strip()
        assert "Python: %s (%s)" % (python, version) in wrapper_out
        with open(site["pyz"], "rb") as handle:
            assert "pilot.pyz: sha256 %s as expected" % hashlib.sha256(handle.read()).hexdigest() in wrapper_out
        with open(os.path.join(workdir, stamp, "pilot-job.sh"), "rb") as handle:
            script = handle.read()
        assert script.endswith(b"\nexit 3\n") == (name != "py27"), name  # raw: the pilot after the script
        assert b"\0" not in script and b"\r" not in script
        work = re.search(r"work directory: (\S+)", wrapper_out).group(1)
        assert os.path.dirname(work) == scratch and "removing the work directory %s (--cleanup)" % work in wrapper_out
        assert not os.path.exists(work) and os.listdir(scratch) == []
        assert pilot_result(workdir, stamp)["pilot"]["exit_code"] == 0
        assert "the pilot exited with code 0" in wrapper_out
    assert sorted(os.listdir(os.path.join(server, "done"))) == ["1.json", "2.json"][: len(runs)]


def test_two_pilots_of_one_node_share_the_db12_cache(slurm, site, tmp_path):
    """Two full DB12 measurements at once write one valid entry; a third pilot reads it."""
    cache = str(tmp_path / "db12-cache")
    server = new_server(site, "db12")
    env = submit_env(slurm, PILOT_DB12_CACHE=cache, TMPDIR=str(tmp_path))
    options = pilot_options(site, server, "--db12=cached")  # no job waits: the JobAgent finds none, exit 0
    workdir = str(tmp_path / "jobs")
    code, out, err = submit(
        slurm, site, workdir, ["--cpus-per-task=1"], options, env=env, extra=["--count", "2", "--wait"]
    )
    assert code == 0, out + err
    pair = submitted(out)
    assert len(pair) == 2
    entries = glob.glob(os.path.join(cache, "db12-*.json"))
    assert len(entries) == 1 and os.listdir(cache) == [os.path.basename(entries[0])], os.listdir(cache)
    assert os.stat(cache).st_mode & 0o777 == 0o700 and os.stat(entries[0]).st_mode & 0o777 == 0o600
    with open(entries[0]) as handle:
        stored = json.load(handle)
    measured = []
    for stamp, _ in pair:
        log = pilot_log(workdir, stamp)
        assert "DB12 node cache %s: miss" % entries[0] in log and "refused" not in log, log
        assert "DB12: running the full benchmark with 1 copy" in log and "processors: 1 ($SLURM_CPUS_ON_NODE" in log
        found = re.search(r"DB12 score ([0-9.]+) \(raw ([0-9.]+)\)", log)
        assert found, log
        measured.append((found.group(1), found.group(2)))
    # both measured and wrote (rename over the entry): the last one's measurement is the entry
    assert "%.2f" % stored["measurement"]["raw"][0] in [raw for _, raw in measured], (stored, measured)
    score = [score for score, raw in measured if raw == "%.2f" % stored["measurement"]["raw"][0]][0]
    # a third pilot of the node reads it
    code, out, err = submit(
        slurm, site, str(tmp_path / "third"), ["--cpus-per-task=1"], options, env=env, extra=["--wait"]
    )
    assert code == 0, out + err
    [(stamp, _)] = submitted(out)
    log = pilot_log(str(tmp_path / "third"), stamp)
    assert "DB12 from the node cache %s" % entries[0] in log, log
    assert "DB12 score %s" % score in log and "running the full benchmark" not in log, log


def check_killed_pilot(site, workdir, stamp, job_id, out, slurm_state, payload):
    """The pilot stopped by Slurm's SIGTERM: children stopped, result written, logbook told, 143."""
    assert "pilot %s: Aborted (exit code 143; Slurm job %d %s)" % (stamp, job_id, slurm_state) in out, out
    log = pilot_log(workdir, stamp)
    assert "SIGTERM received: sending SIGTERM to JobAgent" in log, log
    result = pilot_result(workdir, stamp)
    assert result["pilot"]["exit_code"] == 143 and result["pilot"]["signal"] == "SIGTERM", result["pilot"]
    wrapper_out = job_file(workdir, stamp, "job.out")
    # the wrapper outlived the pilot: no SIGKILL came (Slurm's exit code above is 143, not 137)
    assert "the pilot exited with code 143" in wrapper_out and "payload-started" in wrapper_out
    assert processes_with(payload) == [], "the payload (it ignores SIGTERM) is still running"
    pilot = site["store"].pilot(stamp)
    assert pilot["exit_code"] == 143 and pilot["status"] == "Failed", pilot
    assert "stopped by SIGTERM" in pilot["reason"], pilot


def test_walltime_expiry_stops_the_pilot_cleanly(walltime_run):
    process, workdir = walltime_run["process"], walltime_run["workdir"]
    out, err = process.communicate(timeout=600)
    assert process.returncode == 1, out + err
    [(stamp, job_id)] = submitted(out)
    assert "DUE TO TIME LIMIT" in job_file(workdir, stamp, "job.err")
    # the pilot knew its minute (Slurm 22.05 does not put it in the environment: squeue says it)
    found = re.search(
        r"CPU time of the slot: (\d+) s \(squeue of Slurm job %d \(TimeLimit 1:00, TimeLeft " % job_id,
        pilot_log(workdir, stamp),
    )
    assert found and 0 < int(found.group(1)) <= 60, pilot_log(workdir, stamp)
    check_killed_pilot(walltime_run["site"], workdir, stamp, job_id, out, "TIMEOUT", WALLTIME_PAYLOAD)


def test_scancel_stops_the_pilot_cleanly(slurm, site, tmp_path):
    server = new_server(
        site, "scancel", ["/bin/sh", "-c", "trap '' TERM; echo payload-started; exec %s" % CANCEL_PAYLOAD]
    )
    workdir = str(tmp_path / "jobs")
    process = submit(
        slurm, site, workdir, (), pilot_options(site, server, "--db12=quick"), background=True, extra=["--wait"]
    )
    stamp_dir = wait_until(lambda: glob.glob(os.path.join(workdir, "[0-9a-f]" * 32)), 60, 0.2, what="the submission")[0]
    stamp = os.path.basename(stamp_dir)
    wait_until(
        lambda: "payload-started" in read(os.path.join(stamp_dir, "job.out")), 240, 0.2, what="the payload to start"
    )
    job_id = json.loads(read(os.path.join(stamp_dir, "job.json")))["job_id"]
    slurm_cmd(slurm, "scancel", str(job_id))
    out, err = process.communicate(timeout=300)
    assert process.returncode == 1, out + err
    assert "CANCELLED AT" in job_file(workdir, stamp, "job.err")
    check_killed_pilot(site, workdir, stamp, job_id, out, "CANCELLED", CANCEL_PAYLOAD)


def test_sbatch_refusals_are_one_line(slurm, site, tmp_path):
    server = new_server(site, "refused")
    workdir = str(tmp_path / "jobs")
    code, out, err = submit(slurm, site, workdir, ["--partition=no-such-partition"], pilot_options(site, server))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert (
        "sbatch refused the job (exit code 1): sbatch: error: Batch job submission failed: Invalid partition "
        "name specified (0 pilot(s) submitted before)" in err
    ), err
    [stamp] = [name for name in os.listdir(workdir) if len(name) == 32]
    assert site["store"].pilot(stamp)["status"] == "Aborted"  # registered, never ran
    # --sbatch-arg without the Slurm backend, and no sbatch on PATH
    argv = submit_argv(site, workdir, "--sbatch-arg=--time=5")
    argv[argv.index("slurm")] = "local"
    done = subprocess.run(
        argv + ["--"] + pilot_options(site, server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        env=submit_env(slurm),
    )
    assert done.returncode == 2 and "--sbatch-arg is for --backend slurm" in done.stderr
    done = subprocess.run(
        submit_argv(site, workdir) + ["--"] + pilot_options(site, server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        env=submit_env(slurm, PATH="/nonexistent"),
    )
    assert done.returncode == 1 and "sbatch not found on PATH" in done.stderr, done.stderr
    assert [name for name in os.listdir(workdir) if len(name) == 32] == [stamp]  # nothing registered or made


def test_what_squeue_and_sacct_say_of_jobs(slurm, monkeypatch):
    """A job squeue no longer knows: sacct, which needs accounting storage; this cluster has none."""
    from pilot_server import slurmce

    monkeypatch.setenv("SLURM_CONF", slurm["env"]["SLURM_CONF"])
    answers = slurmce.query([987654])
    assert answers[987654]["state"] == "Unknown" and answers[987654]["exit_code"] is None
    assert "Slurm accounting storage is disabled" in answers[987654]["source"], answers
    # a job that ends by itself with exit code 3, and one still pending (held)
    script = os.path.join(slurm["dir"], "exit3.sh")
    with open(script, "w") as handle:
        handle.write("#!/bin/sh\nexit 3\n")
    ended = int(slurm_cmd(slurm, "sbatch", "--parsable", "--output=/dev/null", script).split(";")[0])
    held = int(slurm_cmd(slurm, "sbatch", "--parsable", "--hold", "--output=/dev/null", script).split(";")[0])
    try:
        wait_until(lambda: slurmce.query([ended])[ended]["state"] == "Failed", 120, 0.5, what="job %d to fail" % ended)
        answers = slurmce.query([ended, held, 987654])
        assert (answers[ended]["slurm_state"], answers[ended]["exit_code"], answers[ended]["source"]) == (
            "FAILED",
            3,
            "squeue",
        )
        assert (answers[held]["slurm_state"], answers[held]["state"], answers[held]["exit_code"]) == (
            "PENDING",
            "Waiting",
            None,
        )
        assert answers[987654]["state"] == "Unknown"
    finally:
        slurm_cmd(slurm, "scancel", str(held))


@pytest.mark.parametrize("status, code", [(0, 0), (3 << 8, 3), (143 << 8, 143), (9, 137), (15, 143)])
def test_squeue_exit_codes_are_wait_statuses(status, code):
    from pilot_server import slurmce

    assert slurmce._exit_code_of_status(status) == code


@pytest.mark.parametrize("text, code", [("0:0", 0), ("3:0", 3), ("0:9", 137), ("143:0", 143), ("", None), ("x", None)])
def test_sacct_exit_codes(text, code):
    from pilot_server import slurmce

    assert slurmce._exit_code_of_sacct(text) == code

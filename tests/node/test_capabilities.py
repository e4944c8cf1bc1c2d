"""pilot.node.capabilities and its readers against fixture trees, and on this machine.

Python 2.6-compatible syntax: these tests run under every interpreter.
"""

import os
import re
import threading

import pytest
from six.moves import BaseHTTPServer

from pilot.node import batchenv, capabilities, cgroups, mjf, platforminfo
from pilot.shims import compat_module

GIB = 1024 * 1024 * 1024


def write(base, relative, content, mode=None):
    path = os.path.join(str(base), relative.lstrip("/"))
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    handle = open(path, "wb" if isinstance(content, bytes) else "w")
    handle.write(content)
    handle.close()
    if mode is not None:
        os.chmod(path, mode)
    return path


def node(tmpdir, cpus=16, allowed="0-15", mem_kb=32 * 1024 * 1024):
    """A fixture root with cpuinfo, status and meminfo, and no cgroup limits."""
    root = str(tmpdir.join("root"))
    write(root, "proc/cpuinfo", "".join("processor\t: %d\nmodel name\t: Intel(R) Xeon(R) Fake\n\n" % n
                                        for n in range(cpus)))
    write(root, "proc/self/status", "Name:\tpython\nCpus_allowed_list:\t%s\n" % allowed)
    write(root, "proc/meminfo", "MemTotal:       %d kB\nMemFree:        1000 kB\n" % mem_kb)
    write(root, "proc/self/cgroup", "0::/\n")
    write(root, "proc/self/mountinfo",
          "25 1 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
    return root


def cgroup_v2(root, path, **files):
    write(root, "proc/self/cgroup", "0::%s\n" % path)
    for relative, content in files.items():
        write(root, "sys/fs/cgroup/" + relative, content)


V1_MOUNTINFO = (
    "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
    "31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n"
    "32 25 0:28 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n")


def cgroup_v1(root, path, **files):
    write(root, "proc/self/cgroup", "5:memory:%s\n4:cpu,cpuacct:%s\n0::/\n" % (path, path))
    write(root, "proc/self/mountinfo", V1_MOUNTINFO)
    for relative, content in files.items():
        write(root, "sys/fs/cgroup/" + relative.replace("__", "/"), content)


# -- cgroups -------------------------------------------------------------------------------

def test_cgroup_v2_quota_and_memory_take_the_tightest_ancestor(tmpdir):
    root = node(tmpdir)
    write(root, "sys/fs/cgroup/batch/cpu.max", "max 100000\n")
    write(root, "sys/fs/cgroup/batch/memory.max", "%d\n" % GIB)
    write(root, "sys/fs/cgroup/batch/job42/cpu.max", "250000 100000\n")
    write(root, "sys/fs/cgroup/batch/job42/memory.max", "max\n")
    write(root, "proc/self/cgroup", "0::/batch/job42\n")
    quota, source = cgroups.cpu_quota(root)
    assert quota == 2.5 and source.endswith("batch/job42/cpu.max")
    limit, source = cgroups.memory_limit(root)
    assert limit == GIB and source.endswith("sys/fs/cgroup/batch/memory.max")


def test_cgroup_v2_without_limits(tmpdir):
    root = node(tmpdir)
    write(root, "proc/self/cgroup", "0::/user.slice\n")
    write(root, "sys/fs/cgroup/user.slice/cpu.max", "max 100000\n")
    write(root, "sys/fs/cgroup/user.slice/memory.max", "max\n")
    assert cgroups.cpu_quota(root) == (None, None)
    assert cgroups.memory_limit(root) == (None, None)


def test_cgroup_v1_quota_and_unlimited_memory(tmpdir):
    root = node(tmpdir)
    write(root, "proc/self/cgroup", "5:memory:/batch/slot1\n4:cpu,cpuacct:/batch/slot1\n0::/\n")
    write(root, "proc/self/mountinfo", V1_MOUNTINFO)
    base = "sys/fs/cgroup/"
    write(root, base + "cpu,cpuacct/batch/slot1/cpu.cfs_quota_us", "400000\n")
    write(root, base + "cpu,cpuacct/batch/slot1/cpu.cfs_period_us", "100000\n")
    write(root, base + "cpu,cpuacct/batch/cpu.cfs_quota_us", "-1\n")
    write(root, base + "cpu,cpuacct/batch/cpu.cfs_period_us", "100000\n")
    write(root, base + "memory/batch/slot1/memory.limit_in_bytes", "9223372036854771712\n")
    write(root, base + "memory/batch/memory.limit_in_bytes", "%d\n" % (8 * GIB))
    assert cgroups.cpu_quota(root)[0] == 4.0
    limit, source = cgroups.memory_limit(root)
    assert limit == 8 * GIB and source.endswith("memory/batch/memory.limit_in_bytes")
    write(root, base + "memory/batch/memory.limit_in_bytes", "9223372036854771712\n")
    assert cgroups.memory_limit(root) == (None, None)  # v1's "unlimited" is no limit


def test_cgroup_mounted_at_its_own_root_in_a_container(tmpdir):
    root = node(tmpdir)
    write(root, "proc/self/cgroup", "4:cpu,cpuacct:/docker/abc\n")
    write(root, "proc/self/mountinfo",
          "30 25 0:26 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n")
    write(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "150000\n")
    write(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    assert cgroups.cpu_quota(root)[0] == 1.5


def test_mountinfo_escapes(tmpdir):
    root = node(tmpdir)
    write(root, "proc/self/mountinfo", "25 1 0:23 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n")
    write(root, "proc/self/cgroup", "0::/job\n")
    write(root, "sys/fs/my cgroup/job/cpu.max", "300000 100000\n")
    assert cgroups.cpu_quota(root)[0] == 3.0


def test_no_proc_means_no_limits(tmpdir):
    assert cgroups.cpu_quota(str(tmpdir)) == (None, None)
    assert cgroups.memory_limit(str(tmpdir)) == (None, None)
    assert cgroups.own_cgroups(str(tmpdir)) == {}


# -- processors -------------------------------------------------------------------------------

def test_parse_cpu_list():
    assert capabilities.parse_cpu_list("0-3,8-11") == 8
    assert capabilities.parse_cpu_list("5") == 1
    assert capabilities.parse_cpu_list("0-1,4,6-7\n") == 5
    assert capabilities.parse_cpu_list("3-1") is None
    assert capabilities.parse_cpu_list("a-b") is None
    assert capabilities.parse_cpu_list("") is None


def processors(root, environ=None, requested=None, queue_value=None, whole_node=False):
    return capabilities.processors(environ or {}, root, requested, None, queue_value, whole_node)


def test_one_processor_without_batch_system_as_dirac(tmpdir):
    result = processors(node(tmpdir))
    assert result["count"] == 1 and result["source"].startswith("DIRAC's default")
    assert capabilities.tags_for(result["count"], result["total"], 0) == []


def test_whole_machine_only_with_whole_node(tmpdir):
    result = processors(node(tmpdir), whole_node=True)
    assert result["count"] == 16 and result["source"] == "WholeNode: CPU count"
    assert capabilities.tags_for(result["count"], result["total"], 0) == ["MultiProcessor", "WholeNode"]


def test_queue_value_after_batch_and_mjf(tmpdir):
    root = node(tmpdir)
    assert processors(root, queue_value=4)["count"] == 4
    assert processors(root, queue_value=4)["source"] == "queue NumberOfProcessors"
    assert processors(root, {"SLURM_JOB_ID": "1", "SLURM_CPUS_ON_NODE": "2"}, queue_value=4)["count"] == 2
    assert processors(root, requested=3, queue_value=4)["count"] == 3


def test_affinity_restricts(tmpdir):
    result = processors(node(tmpdir, allowed="0-3,8-9"), whole_node=True)
    assert result["count"] == 6 and "affinity" in result["source"]


def test_cgroup_quota_restricts_and_rounds_down(tmpdir):
    root = node(tmpdir)
    cgroup_v2(root, "/job", **{"job/cpu.max": "250000 100000"})
    result = processors(root, whole_node=True)
    assert result["count"] == 2 and "cgroup CPU quota" in result["source"]
    cgroup_v2(root, "/job", **{"job/cpu.max": "50000 100000"})
    assert processors(root, whole_node=True)["count"] == 1  # half a CPU is still one process


def test_option_p_wins_but_never_beyond_the_hard_limits(tmpdir):
    root = node(tmpdir)
    assert processors(root, requested=4) == dict(processors(root, requested=4), count=4, source="-P")
    capped = processors(root, requested=32)
    assert capped["count"] == 16 and capped["source"].startswith("-P (32, capped by CPU count")
    cgroup_v1(root, "/slot", **{"cpu,cpuacct__slot__cpu.cfs_quota_us": "300000",
                                "cpu,cpuacct__slot__cpu.cfs_period_us": "100000"})
    assert processors(root, requested=8)["count"] == 3


def test_precedence_mjf_batch_machine_features(tmpdir):
    root = node(tmpdir)
    jobfeatures = str(tmpdir.join("job"))
    machinefeatures = str(tmpdir.join("machine"))
    write(jobfeatures, "allocated_cpu", "8\n")
    write(machinefeatures, "total_cpu", "12\n")
    env = {"JOBFEATURES": jobfeatures, "MACHINEFEATURES": machinefeatures, "SLURM_JOB_ID": "7",
           "SLURM_CPUS_ON_NODE": "5"}
    result = processors(root, env)
    assert (result["count"], result["source"]) == (8, "$JOBFEATURES/allocated_cpu")
    assert result["seen"]["$SLURM_CPUS_ON_NODE"] == 5 and result["seen"]["$MACHINEFEATURES/total_cpu"] == 12
    assert processors(root, env, requested=4)["count"] == 4
    del env["JOBFEATURES"]
    assert processors(root, env)["source"] == "$SLURM_CPUS_ON_NODE"
    del env["SLURM_CPUS_ON_NODE"]
    del env["SLURM_JOB_ID"]
    assert (processors(root, env)["count"], processors(root, env)["source"]) == (
        12, "$MACHINEFEATURES/total_cpu")


def test_batch_job_that_says_nothing_gets_one(tmpdir):
    result = processors(node(tmpdir), {"PBS_JOBID": "123.server"})
    assert result["count"] == 1 and "$PBS_JOBID" in result["source"]
    assert processors(node(tmpdir), {"HTCONDOR_JOBID": "5.0"})["count"] == 1


@pytest.mark.parametrize("environ, expected", [
    ({"SLURM_JOB_ID": "1", "SLURM_CPUS_ON_NODE": "6", "SLURM_JOB_CPUS_PER_NODE": "9"}, (6, "$SLURM_CPUS_ON_NODE")),
    ({"SLURM_JOB_ID": "1", "SLURM_JOB_CPUS_PER_NODE": "4(x2),2"}, (4, "$SLURM_JOB_CPUS_PER_NODE")),
    ({"SLURM_JOB_ID": "1", "SLURM_CPUS_PER_TASK": "3"}, (3, "$SLURM_CPUS_PER_TASK")),
    ({"PBS_JOBID": "1", "PBS_NP": "7"}, (7, "$PBS_NP")),
    ({"PBS_JOBID": "1", "NCPUS": "5"}, (5, "$NCPUS")),
    ({"NCPUS": "5"}, (None, None)),  # NCPUS outside a PBS job means nothing
    ({"LSB_JOBID": "1", "LSB_DJOB_NUMPROC": "10", "LSB_MAX_NUM_PROCESSORS": "12"}, (10, "$LSB_DJOB_NUMPROC")),
    ({"LSB_JOBID": "1", "LSB_MAX_NUM_PROCESSORS": "12"}, (12, "$LSB_MAX_NUM_PROCESSORS")),
    ({"SGE_TASK_ID": "1", "NSLOTS": "4"}, (4, "$NSLOTS")),
    ({"SLURM_JOB_ID": "1", "SLURM_CPUS_ON_NODE": "zero"}, (None, None)),
])
def test_batch_variables(environ, expected):
    assert batchenv.processors(environ) == expected


def test_htcondor_ads(tmpdir):
    machine = write(tmpdir, "machine.ad", 'Cpus = 6\nMemory = 12000\nName = "slot1_1@wn"\n')
    job = write(tmpdir, "job.ad", "RequestCpus = 3\nRequestMemory = 4000\nMaxRuntime = 7200\n"
                                  "JobCurrentStartDate = 1700000000\n")
    env = {"_CONDOR_MACHINE_AD": machine, "_CONDOR_JOB_AD": job, "OMP_NUM_THREADS": "2"}
    assert batchenv.processors(env) == (6, "HTCondor machine ad Cpus")
    assert batchenv.memory_mb(env) == (12000, "HTCondor machine ad Memory")
    del env["_CONDOR_MACHINE_AD"]
    assert batchenv.processors(env) == (3, "HTCondor job ad RequestCpus")
    assert batchenv.memory_mb(env) == (4000, "HTCondor job ad RequestMemory")
    expression = write(tmpdir, "expr.ad", "RequestCpus = ifThenElse(x, 2, 4)\n")
    env["_CONDOR_JOB_AD"] = expression
    assert batchenv.processors(env) == (2, "$OMP_NUM_THREADS (set by HTCondor)")
    assert batchenv.processors({"OMP_NUM_THREADS": "2"}) == (None, None)
    assert batchenv.batch_system({"_CONDOR_JOB_AD": job}) == ("HTCondor", "_CONDOR_JOB_AD")


# -- MJF -------------------------------------------------------------------------------------

class FeatureHandler(BaseHTTPServer.BaseHTTPRequestHandler):
    values = {"/job/allocated_cpu": "6\n", "/job/max_rss_bytes": "%d\n" % (2 * GIB)}
    requests = []

    def do_GET(self):
        self.requests.append(self.path)
        body = self.values.get(self.path)
        self.send_response(200 if body else 404)
        self.end_headers()
        if body:
            self.wfile.write(body.encode("ascii"))

    def log_message(self, *args):
        pass


def test_mjf_over_http(tmpdir):
    server = BaseHTTPServer.HTTPServer(("127.0.0.1", 0), FeatureHandler)
    thread = threading.Thread(target=server.serve_forever)
    thread.daemon = True
    thread.start()
    try:
        base = "http://127.0.0.1:%d/job" % server.server_address[1]
        features = mjf.Features({"JOBFEATURES": base})
        assert features.number("job", "allocated_cpu") == 6
        assert features.number("job", "allocated_cpu") == 6  # read once
        assert features.number("job", "cpu_limit_secs") is None  # 404: missing, server still used
        assert features.number("job", "max_rss_bytes") == 2 * GIB
        assert FeatureHandler.requests.count("/job/allocated_cpu") == 1
        result = capabilities.processors({"JOBFEATURES": base}, node(tmpdir))
        assert (result["count"], result["source"]) == (6, "$JOBFEATURES/allocated_cpu")
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_mjf_is_asked_once(monkeypatch):
    features = mjf.Features({"JOBFEATURES": "http://127.0.0.1:9/job"}, timeout=2)
    asked = []
    net = compat_module("net")
    real_request = net.request

    def request(url, **kwargs):
        asked.append(url)
        return real_request(url, **kwargs)

    monkeypatch.setattr(net, "request", request)
    assert features.number("job", "allocated_cpu") is None
    assert features.number("job", "wall_limit_secs") is None
    assert features.number("job", "cpu_limit_secs") is None
    assert asked == ["http://127.0.0.1:9/job/allocated_cpu"]
    assert features.dead == set(["http://127.0.0.1:9/job"])


def test_mjf_values(tmpdir):
    folder = str(tmpdir)
    write(folder, "hs06_job", "123.5\n")
    write(folder, "allocated_cpu", "four\n")
    write(folder, "wall_limit_secs", "-5\n")
    features = mjf.Features({"JOBFEATURES": folder, "MACHINEFEATURES": "file://" + folder})
    assert features.number("job", "hs06_job") == 123
    assert features.number("job", "allocated_cpu") is None
    assert features.number("job", "wall_limit_secs") is None
    assert features.number("machine", "hs06_job") == 123
    assert not mjf.Features({}).present


# -- memory ----------------------------------------------------------------------------------

def test_memory_takes_the_tightest_limit(tmpdir):
    root = node(tmpdir, mem_kb=64 * 1024 * 1024)
    assert capabilities.memory({}, root) == {"mb": 65536, "source": "/proc/meminfo MemTotal", "total_mb": 65536}
    cgroup_v2(root, "/job", **{"job/memory.max": "%d" % (4 * GIB)})
    result = capabilities.memory({}, root)
    assert result["mb"] == 4096 and result["source"].startswith("cgroup limit")
    folder = str(tmpdir.join("jf"))
    write(folder, "max_rss_bytes", "%d\n" % (3 * GIB))
    assert capabilities.memory({"JOBFEATURES": folder}, root)["mb"] == 3072
    assert capabilities.memory({"JOBFEATURES": folder, "SLURM_MEM_PER_NODE": "2000"}, root) == {
        "mb": 2000, "source": "$SLURM_MEM_PER_NODE", "total_mb": 65536}


# -- GPUs -------------------------------------------------------------------------------------

GPU_LINES = 'echo "0, GPU-aaaa1111, Tesla T4, 15360 MiB"\necho "1, GPU-bbbb2222, Tesla T4, 15360 MiB"\n'
FAKE_SMI = '#!/bin/sh\necho "$@" > "%s"\n' + GPU_LINES


def fake_tool(tmpdir, name, script):
    folder = str(tmpdir.join("bin"))
    write(folder, name, script, mode=0o755)
    return folder


def test_nvidia_smi_and_cuda_visible_devices(tmpdir):
    args_file = str(tmpdir.join("args"))
    folder = fake_tool(tmpdir, "nvidia-smi", FAKE_SMI % args_file)
    env = {"PATH": folder + os.pathsep + "/usr/bin:/bin"}
    result = capabilities.gpus(env)
    assert result == {"count": 2, "source": "nvidia-smi", "models": ["Tesla T4", "Tesla T4"]}
    assert "--format=csv,noheader" in open(args_file).read()
    cases = [("1", 1), ("0,1", 2), ("", 0), ("NoDevFiles", 0), ("none", 0), ("-1", 0),
             ("GPU-bbbb", 1), ("GPU-cccc", 0), ("0,7,1", 1), ("1,0", 2)]
    for value, count in cases:
        env["CUDA_VISIBLE_DEVICES"] = value
        assert capabilities.gpus(env)["count"] == count, value


def test_gpus_without_nvidia_smi(tmpdir):
    env = {"PATH": str(tmpdir)}
    assert capabilities.gpus(env)["count"] == 0
    env["CUDA_VISIBLE_DEVICES"] = "0,1,2"
    assert capabilities.gpus(env) == {"count": 3, "source": "$CUDA_VISIBLE_DEVICES=0,1,2", "models": []}


def test_failing_or_hanging_nvidia_smi(tmpdir):
    folder = fake_tool(tmpdir, "nvidia-smi", "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert capabilities.gpus({"PATH": folder})["count"] == 0
    assert capabilities.gpus({"PATH": folder})["source"] == "nvidia-smi failed"
    # answers only after 30 s: a probe that waited for it would find 2 GPUs
    fake_tool(tmpdir, "nvidia-smi", "#!/bin/sh\nsleep 30\n" + GPU_LINES)
    result = capabilities.gpus({"PATH": folder + os.pathsep + "/usr/bin:/bin"}, timeout=1)
    assert (result["count"], result["source"]) == (0, "nvidia-smi failed")


# -- OS, platform, containers, namespaces -------------------------------------------------------

def test_os_release_and_disk(tmpdir):
    root = node(tmpdir)
    write(root, "etc/os-release", 'NAME="AlmaLinux"\nVERSION_ID="9.4"\nPRETTY_NAME="AlmaLinux 9.4 (Seafoam)"\n')
    caps = capabilities.detect({"PATH": ""}, root=root, work_dir=str(tmpdir), cvmfs_container_dirs=())
    assert caps["os"]["VERSION_ID"] == "9.4" and caps["os_name"] == "AlmaLinux 9.4 (Seafoam)"
    assert caps["disk"]["free_mb"] > 0 and caps["disk"]["path"] == str(tmpdir)
    assert caps["cpu"]["model"] == "Intel(R) Xeon(R) Fake" and caps["cpu"]["count"] == 16


def fake_libc(root, relative, versions, padding=0):
    names = b"\0".join(b"GLIBC_" + version.encode("ascii") for version in versions)
    return write(root, relative, b"\x7fELF" + b"x" * padding + names + b"\0GLIBC_PRIVATE\0")


def test_platform_string_like_dirac_platform(tmpdir):
    root = str(tmpdir)
    fake_libc(root, "lib64/libc.so.6", ["2.2.5", "2.12", "2.17", "2.3.4"])
    fake_libc(root, "lib64/libc-2.12.so", ["2.2.5", "2.12"])
    assert platforminfo.platform_string(root, "Linux", "x86_64") == "Linux_x86_64_glibc-2.17"
    assert platforminfo.platform_string(root, "Linux", "i686") == "Linux_i686_glibc-0.0.0"  # no /lib
    fake_libc(root, "lib/libc.so.6", ["2.9", "2.10"])  # compared as numbers, not text
    assert platforminfo.platform_string(root, "Linux", "i686") == "Linux_i686_glibc-2.10"


def test_glibc_symbol_across_a_chunk_boundary(tmpdir):
    path = fake_libc(str(tmpdir), "libc.so.6", ["2.28"], padding=(1 << 20) - 8)
    assert platforminfo.highest_glibc_symbol(path) == (2, 28)


def test_container_runtime(tmpdir):
    folder = fake_tool(tmpdir, "apptainer", "#!/bin/sh\necho 'apptainer version 1.3.4'\n")
    found = capabilities.container_runtime({"PATH": folder}, cvmfs_dirs=())
    assert found == {"name": "apptainer", "path": os.path.join(folder, "apptainer"), "source": "PATH",
                     "runs": True, "version": "apptainer version 1.3.4"}
    broken = fake_tool(tmpdir, "apptainer", "#!/bin/sh\nexit 1\n")
    found = capabilities.container_runtime({"PATH": broken}, cvmfs_dirs=())
    assert found["name"] == "apptainer" and found["runs"] is False
    cvmfs = str(tmpdir.join("cvmfs"))
    write(cvmfs, "singularity", "#!/bin/sh\necho 'singularity-ce version 3.11'\n", mode=0o755)
    found = capabilities.container_runtime({"PATH": ""}, cvmfs_dirs=(cvmfs,))
    assert (found["name"], found["source"], found["runs"]) == ("singularity", "CVMFS", True)
    assert capabilities.container_runtime({"PATH": ""}, cvmfs_dirs=())["name"] is None


@pytest.mark.parametrize("files, enabled, reason", [
    ({"proc/sys/user/max_user_namespaces": "0\n"}, False, "user.max_user_namespaces = 0"),
    ({"proc/sys/user/max_user_namespaces": "15000\n", "proc/sys/kernel/unprivileged_userns_clone": "0\n"},
     False, "kernel.unprivileged_userns_clone = 0"),
    ({"proc/sys/user/max_user_namespaces": "15000\n",
      "proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n"}, False, "apparmor"),
    ({"proc/sys/user/max_user_namespaces": "15000\n", "proc/sys/kernel/unprivileged_userns_clone": "1\n"},
     True, "user.max_user_namespaces = 15000"),
    ({}, False, "no /proc/sys/user/max_user_namespaces"),
])
def test_user_namespaces(tmpdir, files, enabled, reason):
    for relative, content in files.items():
        write(tmpdir, relative, content)
    result = capabilities.user_namespaces(str(tmpdir))
    assert result["enabled"] is enabled and reason in result["reason"]


# -- queue CPU time -------------------------------------------------------------------------------

NOW = 1700000000


def test_queue_time_from_mjf(tmpdir):
    folder = str(tmpdir.join("jf"))
    machine = str(tmpdir.join("mf"))
    write(folder, "cpu_limit_secs", "86400\n")
    write(folder, "wall_limit_secs", "172800\n")
    write(folder, "jobstart_secs", "%d\n" % (NOW - 3600))
    env = {"JOBFEATURES": folder, "MACHINEFEATURES": machine}
    caps = {"time_limit": capabilities.time_limits(env)}
    assert capabilities.queue_cpu_time(caps, 10.0, now=NOW) == {
        "seconds": 82800, "work": 828000, "source": "$JOBFEATURES/cpu_limit_secs"}
    write(machine, "shutdowntime", "%d\n" % (NOW + 1000))
    caps = {"time_limit": capabilities.time_limits(env)}
    assert capabilities.queue_cpu_time(caps, 10.0, now=NOW)["seconds"] == 1000


def test_queue_time_from_batch_systems(tmpdir):
    job = write(tmpdir, "job.ad", "MaxRuntime = 7200\nJobCurrentStartDate = %d\n" % (NOW - 200))
    caps = {"time_limit": capabilities.time_limits({"_CONDOR_JOB_AD": job})}
    assert capabilities.queue_cpu_time(caps, 20.0, now=NOW) == {
        "seconds": 7000, "work": 140000, "source": "HTCondor job ad MaxRuntime"}
    caps = {"time_limit": capabilities.time_limits({"SLURM_JOB_END_TIME": str(NOW + 5000)})}
    assert capabilities.queue_cpu_time(caps, 20.0, now=NOW)["seconds"] == 5000
    caps = {"time_limit": capabilities.time_limits({"PBS_WALLTIME": "3600"})}
    assert capabilities.queue_cpu_time(caps, 20.0, now=NOW)["seconds"] == 3600
    expired = {"time_limit": capabilities.time_limits({"SLURM_JOB_END_TIME": str(NOW - 5)})}
    assert capabilities.queue_cpu_time(expired, 20.0, now=NOW)["seconds"] == 0


def test_queue_time_order_as_dirac():
    limit = {"time_limit": {"unit": "WallClock", "limit": 7200, "start": None, "end": None, "source": "x"}}
    assert capabilities.queue_cpu_time(limit, 10.0, cpu_time_left=50000)["seconds"] == 5000
    assert capabilities.queue_cpu_time(limit, 10.0, queue_parameters={"maxCPUTime": "1440"})["seconds"] == 7200
    # no factor: DIRAC's TimeLeft cannot work, the queue's maxCPUTime (minutes) is next
    assert capabilities.queue_cpu_time(limit, None, queue_parameters={"maxCPUTime": "1440"}) == {
        "seconds": 86400, "work": None, "source": "queue maxCPUTime"}
    assert capabilities.queue_cpu_time({}, 10.0, job_cpu_req=90000)["seconds"] == 9000
    assert capabilities.queue_cpu_time({}, 10.0) == {
        "seconds": 9999999, "work": 99999990, "source": "DIRAC's default"}


# -- pilot.cfg keys ---------------------------------------------------------------------------------

def fixture_caps(count=4, memory_mb=16000, gpus=0, tags=None):
    return {"processors": {"count": count}, "memory": {"mb": memory_mb}, "gpus": {"count": gpus},
            "platform": "Linux_x86_64_glibc-2.17", "machine": "x86_64",
            "tags": ["MultiProcessor"] if tags is None else tags}


def test_cfg_values_keys_and_sections():
    queue_time = {"seconds": 1000, "work": 42000, "source": "x"}
    values = capabilities.cfg_values(fixture_caps(gpus=2, tags=["MultiProcessor", "GPU"]), 42.04, queue_time,
                                     tags=["MultiProcessor", "CMS"], required_tags=["CMS", "CMS"])
    assert values == {
        "/Resources/Computing/CEDefaults/NumberOfProcessors": 4,
        "/Resources/Computing/CEDefaults/NumberOfPayloadProcessors": 1,
        "/Resources/Computing/CEDefaults/MaxRAM": 16000,
        "/Resources/Computing/CEDefaults/NumberOfGPUs": 2,
        "/Resources/Computing/CEDefaults/Tag": "MultiProcessor,CMS,GPU",
        "/Resources/Computing/CEDefaults/RequiredTag": "CMS",
        "/LocalSite/Architecture": "Linux_x86_64_glibc-2.17",
        "/LocalSite/Platform": "x86_64",
        "/LocalSite/CPUNormalizationFactor": 42.0,
        "/LocalSite/CPUTimeLeft": 42000,
        "/LocalSite/CPUTime": 42000,
    }


def test_cfg_values_omits_unknowns_and_follows_dirac():
    values = capabilities.cfg_values(fixture_caps(count=1, memory_mb=0, tags=[]))
    assert sorted(values) == ["/LocalSite/Architecture", "/LocalSite/Platform",
                              "/Resources/Computing/CEDefaults/NumberOfPayloadProcessors",
                              "/Resources/Computing/CEDefaults/NumberOfProcessors"]
    whole = capabilities.cfg_values(fixture_caps(count=8, tags=["MultiProcessor", "WholeNode"]),
                                    queue_parameters={"MaxRAM": "4000"})
    assert whole["/Resources/Computing/CEDefaults/NumberOfPayloadProcessors"] == 8
    assert whole["/Resources/Computing/CEDefaults/MaxRAM"] == 4000  # the queue's value wins
    limited = capabilities.cfg_values(fixture_caps(count=8), max_processors=2)
    assert limited["/Resources/Computing/CEDefaults/NumberOfPayloadProcessors"] == 2


def test_tags():
    assert capabilities.tags_for(1, 8, 0) == []
    assert capabilities.tags_for(4, 8, 0) == ["MultiProcessor"]
    assert capabilities.tags_for(8, 8, 1) == ["MultiProcessor", "WholeNode", "GPU"]


# -- the whole detection ---------------------------------------------------------------------------

def test_detect_on_a_fixture_tree(tmpdir):
    root = node(tmpdir, cpus=8, allowed="0-7", mem_kb=16 * 1024 * 1024)
    cgroup_v2(root, "/job", **{"job/cpu.max": "400000 100000", "job/memory.max": "%d" % (6 * GIB)})
    fake_libc(root, "lib64/libc.so.6", ["2.28", "2.34"])
    folder = fake_tool(tmpdir, "nvidia-smi", FAKE_SMI % str(tmpdir.join("args")))
    env = {"PATH": folder, "CUDA_VISIBLE_DEVICES": "1", "SLURM_JOB_ID": "9", "SLURM_CPUS_ON_NODE": "4"}
    caps = capabilities.detect(env, root=root, work_dir=str(tmpdir), cvmfs_container_dirs=())
    assert caps["processors"]["count"] == 4 and caps["processors"]["source"] == "$SLURM_CPUS_ON_NODE"
    assert caps["memory"]["mb"] == 6144
    assert caps["gpus"]["count"] == 1
    assert caps["batch_system"] == "SLURM"
    assert caps["tags"] == ["MultiProcessor", "GPU"]
    if caps["machine"] == "x86_64":
        assert caps["platform"] == "Linux_x86_64_glibc-2.34"
    values = capabilities.cfg_values(caps)
    assert values["/Resources/Computing/CEDefaults/NumberOfProcessors"] == 4
    assert values["/Resources/Computing/CEDefaults/NumberOfGPUs"] == 1


def test_detect_on_this_machine(tmpdir):
    caps = capabilities.detect(work_dir=str(tmpdir))
    assert caps["processors"]["count"] >= 1
    assert caps["processors"]["count"] <= caps["processors"]["total"]
    assert caps["memory"]["mb"] > 0
    assert re.match(r"^Linux_x86_64_glibc-\d+\.\d+$", caps["platform"]), caps["platform"]
    assert caps["disk"]["free_mb"] > 0
    if hasattr(os, "sched_getaffinity"):
        assert capabilities.affinity()[0] == len(os.sched_getaffinity(0))  # novm
    assert capabilities.affinity(root=str(tmpdir)) == (None, None)

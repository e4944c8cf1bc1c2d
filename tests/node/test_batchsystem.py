"""pilot/node/batchsystem.py: flavour, pilot reference and batch information (docs/commands.md,
"Where the pilot runs")."""

import os

import pytest

from pilot.node import batchsystem

CE = "ce.example.org"
STAMP = "0123456789abcdef0123456789abcdef"
U = batchsystem.UNKNOWN


def _batch(kind=U, job=U, queue=U, binary=U, host=U, info=U):
    return {"Type": kind, "JobID": job, "Queue": queue, "BinaryPath": binary, "Host": host, "InfoPath": info}


# (environment, flavour, reference, batch info): one row of the table each
ROWS = [
    ({"PBS_JOBID": "1234.torque.example.org", "PBS_O_PATH": "/opt/pbs/bin", "PBS_O_QUEUE": "long"},
     "SSHPBS", "sshpbs://%s/1234" % CE, _batch("PBS", "1234", queue="long", binary="/opt/pbs/bin")),
    ({"OAR_JOBID": "777"}, "SSHOAR", "sshoar://%s/777" % CE, _batch("OAR", "777")),
    ({"SGE_TASK_ID": "undefined", "JOB_ID": "4242", "SGE_BINARY_PATH": "/opt/sge/bin", "QUEUE": "all.q"},
     "SSHSGE", "sshge://%s/4242" % CE, _batch("SGE", "4242", queue="all.q", binary="/opt/sge/bin")),
    ({"LSB_BATCH_JID": "5150", "LSF_BINDIR": "/lsf/bin", "LSB_HOSTS": "node1 node1", "LSF_ENVDIR": "/lsf/conf",
      "LSB_QUEUE": "grid"},
     "SSHLSF", "sshlsf://%s/5150" % CE,
     _batch("LSF", "5150", queue="grid", binary="/lsf/bin", host="node1 node1", info="/lsf/conf")),
    ({"SLURM_JOBID": "98765", "SLURM_JOB_PARTITION": "debug"},
     "SSHSLURM", "sshslurm://%s/98765" % CE, _batch("SLURM", "98765", queue="debug")),
    ({"_CONDOR_JOB_AD": "/scratch/.job.ad", "CONDOR_JOBID": "12.0"},
     "SSHHTCondor", "sshcondor://%s/12.0" % CE, _batch("HTCondor", "12.0", info="/scratch/.job.ad")),
    ({"_CONDOR_JOB_AD": "/scratch/.job.ad"},   # no CONDOR_JOBID: the stamp
     "SSHHTCondor", "sshcondor://%s/%s" % (CE, STAMP), _batch("HTCondor", STAMP, info="/scratch/.job.ad")),
    ({"LOCAL_JOBID": "31"}, "Local", "local://%s/31" % CE, _batch()),
    ({"SSHCE_JOBID": "32"}, "SSH", "ssh://%s/32" % CE, _batch()),
    ({"SSHBATCH_JOBID": "33", "SSH_NODE_HOST": "wn7"}, "SSHBATCH", "sshbatchhost://%s/wn7/33" % CE, _batch()),
    ({"HTCONDOR_JOBID": "456.0"}, "HTCondorCE", "htcondorce://%s/456.0" % CE, _batch("HTCondor", "456.0")),
    ({"GRID_GLOBAL_JOBURL": "gsiftp://arc.example.org:2811/jobs/abc"},
     "ARC", "gsiftp://arc.example.org:2811/jobs/abc", _batch()),
    ({"PILOT_UUID": "vm-uuid-1"}, "CLOUD", "vm-uuid-1", _batch()),
    ({"VMDIRAC_VERSION": "v4", "JOB_ID": "vm9"}, "VMDIRAC", "vm://%s/vm9" % CE, _batch()),
    ({"BOINC_JOB_ID": "boinc-17"}, "BOINC", "boinc-17", _batch()),
]


@pytest.mark.parametrize("environ,flavour,reference,batch", ROWS)
def test_every_row_of_the_table(environ, flavour, reference, batch):
    where = batchsystem.detect(environ, CE, STAMP)
    assert where.flavour == flavour
    assert where.reference == reference
    assert where.batch == batch
    assert where.as_dict()["batch"] == batch


def test_default_flavour_is_dirac_with_the_stamp():
    where = batchsystem.detect({}, CE, STAMP)
    assert where.flavour == "DIRAC"
    assert where.reference == STAMP
    assert where.batch == _batch()
    assert where.extra == {}
    assert where.as_dict() == {"flavour": "DIRAC", "reference": STAMP, "batch": _batch(), "extra": {}}


def test_stamp_from_the_environment_wins_over_the_given_one():
    where = batchsystem.detect({"DIRAC_PILOT_STAMP": "fromenv"}, CE, STAMP)
    assert where.reference == "fromenv"
    where = batchsystem.detect({"DIRAC_PILOT_STAMP": "fromenv", "_CONDOR_JOB_AD": "/ad"}, CE, STAMP)
    assert where.reference == "sshcondor://%s/fromenv" % CE


def test_no_stamp_gives_an_empty_reference():
    assert batchsystem.detect({}, CE, "").reference == ""
    assert batchsystem.detect({}, CE, None).reference == ""


def test_unknown_ce_name():
    assert batchsystem.detect({"SLURM_JOBID": "5"}, "", STAMP).reference == "sshslurm://unknown/5"


def test_slurm_job_id_spelling():
    where = batchsystem.detect({"SLURM_JOB_ID": "77"}, CE, STAMP)
    assert (where.flavour, where.reference, where.batch["JobID"]) == ("SSHSLURM", "sshslurm://%s/77" % CE, "77")


def test_sge_without_job_id_uses_the_task_id():
    where = batchsystem.detect({"SGE_TASK_ID": "3"}, CE, STAMP)
    assert where.reference == "sshge://%s/3" % CE


def test_pbs_reference_stops_at_the_first_dot():
    where = batchsystem.detect({"PBS_JOBID": "99.server.domain"}, CE, STAMP)
    assert where.reference == "sshpbs://%s/99" % CE
    assert where.batch["JobID"] == "99"


def test_arc_job_id_when_no_url():
    where = batchsystem.detect({"GRID_GLOBAL_JOBID": "https://arc/jobs/1"}, CE, STAMP)
    assert (where.flavour, where.reference) == ("ARC", "https://arc/jobs/1")


def test_sshbatch_needs_the_node_host():
    where = batchsystem.detect({"SSHBATCH_JOBID": "33"}, CE, STAMP)
    assert (where.flavour, where.reference) == ("DIRAC", STAMP)


def test_vmdirac_needs_job_id():
    where = batchsystem.detect({"VMDIRAC_VERSION": "v4"}, CE, STAMP)
    assert where.flavour == "DIRAC"


@pytest.mark.parametrize("environ,flavour,reference", [
    # a later match overrides an earlier one, in DIRAC's order
    ({"PBS_JOBID": "1.x", "SLURM_JOBID": "2"}, "SSHSLURM", "sshslurm://%s/2" % CE),
    ({"SLURM_JOBID": "2", "HTCONDOR_JOBID": "3.0"}, "HTCondorCE", "htcondorce://%s/3.0" % CE),
    ({"HTCONDOR_JOBID": "3.0", "_CONDOR_JOB_AD": "/ad", "CONDOR_JOBID": "4.0"},
     "HTCondorCE", "htcondorce://%s/3.0" % CE),
    ({"HTCONDOR_JOBID": "3.0", "GRID_GLOBAL_JOBURL": "https://arc/1"}, "ARC", "https://arc/1"),
    ({"GRID_GLOBAL_JOBURL": "https://arc/1", "PILOT_UUID": "u"}, "CLOUD", "u"),
    ({"LOCAL_JOBID": "1", "SSHCE_JOBID": "2"}, "SSH", "ssh://%s/2" % CE),
    ({"PILOT_UUID": "u", "BOINC_JOB_ID": "b"}, "BOINC", "b"),
    ({"SLURM_JOBID": "2", "LOCAL_JOBID": "9"}, "Local", "local://%s/9" % CE),
])
def test_later_matches_override_earlier_ones(environ, flavour, reference):
    where = batchsystem.detect(environ, CE, STAMP)
    assert (where.flavour, where.reference) == (flavour, reference)


def test_batch_info_of_an_earlier_match_stays_when_a_later_one_has_none():
    where = batchsystem.detect({"SLURM_JOBID": "2", "SLURM_JOB_PARTITION": "p", "LOCAL_JOBID": "9"}, CE, STAMP)
    assert where.batch == _batch("SLURM", "2", queue="p")


def test_htcondor_ce_inside_htcondor_keeps_the_condor_batch_info():
    where = batchsystem.detect({"_CONDOR_JOB_AD": "/ad", "CONDOR_JOBID": "4.0", "HTCONDOR_JOBID": "3.0"},
                               CE, STAMP)
    assert where.batch["Type"] == "HTCondor"
    assert where.batch["JobID"] == "4.0"
    assert where.batch["InfoPath"] == "/ad"


def test_later_batch_system_replaces_type_and_job_but_keeps_set_keys():
    where = batchsystem.detect({"PBS_JOBID": "1.x", "PBS_O_QUEUE": "pq", "SLURM_JOBID": "2"}, CE, STAMP)
    assert where.batch["Type"] == "SLURM"
    assert where.batch["JobID"] == "2"


def test_boinc_extras():
    environ = {"BOINC_JOB_ID": "wu_17_0", "BOINC_USER_ID": "u42", "BOINC_HOST_ID": "h7",
               "BOINC_HOST_PLATFORM": "x86_64-pc-linux-gnu", "BOINC_HOST_NAME": "volunteer"}
    where = batchsystem.detect(environ, CE, STAMP)
    assert (where.flavour, where.reference) == ("BOINC", "wu_17_0")
    assert where.extra == {"BoincUserID": "u42", "BoincHostID": "h7", "BoincHostPlatform": "x86_64-pc-linux-gnu",
                           "BoincHostName": "volunteer"}
    assert where.as_dict()["extra"] == where.extra
    partial = batchsystem.detect({"BOINC_JOB_ID": "b", "BOINC_HOST_ID": "h"}, CE, STAMP)
    assert partial.extra == {"BoincHostID": "h"}


def test_vac_with_a_jobfeatures_job_id_file(tmpdir):
    features = tmpdir.mkdir("jobfeatures")
    features.join("job_id").write("vac-job-00042\n")
    environ = {"JOBOUTPUTS": str(tmpdir.mkdir("outputs")), "JOBFEATURES": str(features)}
    where = batchsystem.detect(environ, CE, STAMP)
    assert where.flavour == "Vac"
    assert where.reference == "vac://%s/vac-job-00042" % CE


def test_vac_with_machinefeatures_only_uses_the_stamp(tmpdir):
    environ = {"JOBOUTPUTS": "/outputs", "MACHINEFEATURES": str(tmpdir)}
    where = batchsystem.detect(environ, CE, STAMP)
    assert (where.flavour, where.reference) == ("Vac", "vac://%s/%s" % (CE, STAMP))


def test_vac_without_the_job_id_file_uses_the_stamp(tmpdir):
    environ = {"JOBOUTPUTS": "/outputs", "JOBFEATURES": str(tmpdir)}
    assert batchsystem.detect(environ, CE, STAMP).reference == "vac://%s/%s" % (CE, STAMP)


def test_vac_never_reads_a_url_jobfeatures():
    read = []

    def reader(path):
        read.append(path)
        return "x"

    environ = {"JOBOUTPUTS": "/o", "JOBFEATURES": "https://mjf.example.org/job"}
    where = batchsystem.detect(environ, CE, STAMP, read_file=reader)
    assert read == []
    assert where.reference == "vac://%s/%s" % (CE, STAMP)


def test_vac_reader_is_injectable():
    read = []

    def reader(path):
        read.append(path)
        return "  id-from-reader \n"

    where = batchsystem.detect({"JOBOUTPUTS": "/o", "JOBFEATURES": "/jf"}, CE, STAMP, read_file=reader)
    assert read == [os.path.join("/jf", "job_id")]
    assert where.reference == "vac://%s/id-from-reader" % CE


def test_joboutputs_alone_is_not_vac():
    assert batchsystem.detect({"JOBOUTPUTS": "/o"}, CE, STAMP).flavour == "DIRAC"


def test_empty_values_do_not_match():
    environ = {"PBS_JOBID": "", "SLURM_JOBID": "", "HTCONDOR_JOBID": "", "BOINC_JOB_ID": ""}
    assert batchsystem.detect(environ, CE, STAMP).flavour == "DIRAC"


def test_where_objects_are_independent():
    first = batchsystem.detect({"SLURM_JOBID": "1"}, CE, STAMP)
    second = batchsystem.detect({}, CE, STAMP)
    assert second.batch["Type"] == U
    data = first.as_dict()
    data["batch"]["Type"] = "changed"
    assert first.batch["Type"] == "SLURM"

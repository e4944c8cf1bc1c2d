"""The pilot's exit codes and failure types: the one definition.

A failed command has a *failure type*; the type decides the pilot's exit
code.  Codes avoid 1, 3 and 255, which DIRAC's wrapper uses for its own
failures (pilot failed / unpack failure / no location or bad checksum), so an
administrator can tell from the batch exit code alone who failed and why.
A pilot stopped by signal N exits 128+N, as a shell would report it.
"""


class ExitCode(object):
    def __init__(self, code, name, failure_type, meaning):
        self.code = code
        self.name = name
        self.failure_type = failure_type
        self.meaning = meaning


TABLE = [
    ExitCode(0, "OK", None, "every command succeeded (the JobAgent, if launched, ended normally)"),
    ExitCode(2, "USAGE", "usage", "bad command line: unknown option, missing value, bad number"),
    ExitCode(10, "CONFIG", "config",
             "bad configuration: pilot.json unreadable or malformed, unknown command, "
             "extension not found, inconsistent parameters"),
    ExitCode(11, "NODE", "node",
             "the node is unusable: too little disk, work directory not writable, missing tools"),
    ExitCode(12, "CREDENTIALS", "credentials",
             "proxy or host certificate missing, unreadable or expired"),
    ExitCode(13, "NETWORK", "network",
             "no download location answered (after retries), or each answer was over its time or size "
             "limit"),
    ExitCode(14, "INTEGRITY", "integrity", "a download or file failed its checksum or signature"),
    ExitCode(15, "INSTALL", "install", "DIRAC could not be installed"),
    ExitCode(16, "CONFIGURE", "configure", "DIRAC could not be configured (dirac-configure and friends)"),
    ExitCode(17, "AGENT", "agent", "the JobAgent (or the -x command) failed"),
    ExitCode(18, "COMMAND", "command", "a command failed without a more specific type (extensions)"),
    ExitCode(70, "INTERNAL", "internal", "a bug in the pilot: an unexpected exception (traceback in the log)"),
]

BY_NAME = dict((entry.name, entry) for entry in TABLE)
BY_TYPE = dict((entry.failure_type, entry) for entry in TABLE if entry.failure_type)

OK = BY_NAME["OK"].code
USAGE = BY_NAME["USAGE"].code
CONFIG = BY_NAME["CONFIG"].code
INTERNAL = BY_NAME["INTERNAL"].code

FAILURE_TYPES = sorted(BY_TYPE)

# Signals after which the pilot stops its command tree, writes its result and exits 128+N.
HANDLED_SIGNALS = ["SIGTERM", "SIGINT", "SIGUSR1", "SIGXCPU"]


def for_failure_type(failure_type):
    """Exit code of a failure type; unknown types count as a plain command failure."""
    entry = BY_TYPE.get(failure_type) or BY_TYPE["command"]
    return entry.code


def for_signal(signum):
    return 128 + signum


def signal_name(signum):
    import signal  # only when a signal is named: 3.x's signal module imports enum

    for name in dir(signal):
        if name.startswith("SIG") and not name.startswith("SIG_") and getattr(signal, name) == signum:
            return name
    return "signal %d" % signum


def describe(code):
    """A short description of an exit code, for logs and --help."""
    for entry in TABLE:
        if entry.code == code:
            return entry.name
    if code > 128:
        return "KILLED by %s" % signal_name(code - 128)
    return "exit code %d" % code

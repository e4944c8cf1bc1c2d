"""Exceptions that carry a failure type (see exitcodes) and a one-line reason."""

from .shims import compat


class PilotError(Exception):
    """A failure the pilot knows how to report: a type and a one-line reason."""

    failure_type = "command"

    def __init__(self, reason, failure_type=None, details=None):
        Exception.__init__(self, reason)
        self.reason = " ".join(compat.to_text(reason).split()) if reason else u"failed"
        if failure_type:
            self.failure_type = failure_type
        self.details = details or {}

    def __str__(self):
        return compat.to_native(self.reason)


class UsageError(PilotError):
    failure_type = "usage"


class ConfigError(PilotError):
    failure_type = "config"


class CommandFailed(PilotError):
    """Raised by a command's execute(); the runner stops the sequence."""


class PilotKilled(BaseException):
    """Raised in the main thread by the signal handler.

    A BaseException so that a command's ``except Exception`` cannot swallow it.
    """

    def __init__(self, signum):
        BaseException.__init__(self, signum)
        self.signum = signum

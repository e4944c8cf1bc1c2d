"""Node-local directories that only this pilot's uid may write: the DB12 cache and the log hand-off.

Several pilots of one uid share them on a node, and a directory another user made (or a link to
one) must never be trusted, so both check the same way: a real directory (lstat, no link),
owned by the effective uid, not writable by group or others.  Python 2.6 compatible.
"""

import errno
import os
import stat


def owner_problem(path, info):
    """Why a file or directory of ``info`` (an lstat/fstat) is not this uid's alone, or None."""
    if info.st_uid != os.geteuid():
        return "%s belongs to uid %d, not to this pilot (uid %d)" % (path, info.st_uid, os.geteuid())
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "%s is writable by other users (mode %o)" % (path, stat.S_IMODE(info.st_mode))
    return None


def check(path, create=False):
    """Why ``path`` is not a safe private directory (one line), or None; with ``create`` a missing
    one is made with mode 0700 (and its parents) first."""
    if create and not os.path.lexists(path):
        try:
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                os.makedirs(parent)
            os.mkdir(path, 0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:  # another pilot made it first: checked below
                return "cannot create %s: %s" % (path, exc.strerror or exc)
    try:
        info = os.lstat(path)
    except OSError as exc:
        return "%s: %s" % (path, exc.strerror or exc)
    if not stat.S_ISDIR(info.st_mode):
        return "%s is not a directory (a link or a file)" % path
    return owner_problem(path, info)

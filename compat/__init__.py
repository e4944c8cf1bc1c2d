"""What differs between Python 2.6, 2.7 and 3.x, and nothing else.

Every other module of the pilot is written once for all versions and imports
the differences from here.  Guarded imports carry ``# novm`` so that vermin
(which does not understand ``try/except ImportError``) stays quiet.
"""

import os
import re
import sys

# subprocess, threading, signal and ssl are imported by the functions that use them:
# --version and --help need none of them.

PY2 = sys.version_info[0] == 2

if PY2:
    text_type = unicode  # noqa: F821  (Python 2 only)
    binary_type = str
    string_types = (str, unicode)  # noqa: F821
    integer_types = (int, long)  # noqa: F821  # novm
    xrange = xrange  # noqa: F821
else:
    text_type = str
    binary_type = bytes
    string_types = (str,)
    integer_types = (int,)
    xrange = range

# What a shell word may hold unquoted (shlex.quote's set, ASCII only on every version).
_SHELL_UNSAFE = re.compile(r"[^A-Za-z0-9_@%+=:,./-]")

_SSL = []


def ssl_module():
    """The ssl module, or None on a Python built without OpenSSL (downloads then use curl/wget)."""
    if not _SSL:
        try:
            import ssl
        except ImportError:
            ssl = None
        _SSL.append(ssl)
    return _SSL[0]


def has_ssl_context():
    """Python 2.7.9+ and 3.4+ can verify certificates and host names with an SSLContext."""
    ssl = ssl_module()
    return ssl is not None and hasattr(ssl, "create_default_context")


def exec_code(code, namespace):
    """exec of a code object in a dict (the statement on 2, the function on 3: this form is both)."""
    exec(code, namespace)


def import_queue():
    """The queue module (Queue on Python 2)."""
    try:
        import queue  # novm
    except ImportError:
        import Queue as queue  # novm
    return queue


def shell_quote(value):
    """One shell word for ``value``, as shlex.quote (3.3+) writes it, on every version.

    Python 2's pipes.quote differs, and on 2.6 turns "" into nothing at all (the
    argument vanishes from the command line).
    """
    if not value:
        return "''"
    if _SHELL_UNSAFE.search(value) is None:
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


def shell_split(text):
    """shlex.split(text) as native strings.

    Python 2.6's shlex garbles unicode input (NUL bytes inside the words, which
    execve then refuses); on Python 2 it gets UTF-8 bytes.
    """
    import shlex

    return shlex.split(to_native(text))


def to_text(value, encoding="utf-8"):
    """Bytes, text or any object (an exception) to text; undecodable bytes become U+FFFD,
    never an exception."""
    if isinstance(value, binary_type):
        return value.decode(encoding, "replace")
    if isinstance(value, text_type):
        return value
    try:
        return text_type(value)
    except UnicodeError:  # Python 2: unicode(exc) decodes a non-ASCII str message as ASCII
        return to_text(str(value), encoding)


def to_bytes(value, encoding="utf-8"):
    """Text to bytes; never raises: undecodable argv bytes (surrogates) go back as they came."""
    if isinstance(value, binary_type):
        return value
    text = to_text(value)
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        try:
            return text.encode(encoding, "surrogateescape")
        except (UnicodeEncodeError, LookupError):
            return text.encode(encoding, "replace")


def to_native(value):
    """The native ``str`` of this interpreter (bytes on 2, text on 3)."""
    if PY2:
        return to_bytes(value)
    return to_text(value)


def write_text(stream, text):
    """Write text to a stream opened by someone else (stdout, stderr, a log file).

    On Python 2 a pipe has no encoding and unicode with non-ASCII characters
    would raise; on Python 3 a stream with a narrow encoding would too.
    """
    if PY2:
        stream.write(to_bytes(text))
        return
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(encoding, "replace").decode(encoding))


def check_output(args, **kwargs):
    """subprocess.check_output (2.7+), for 2.6 as well.  ``args`` is a list."""
    import subprocess

    kwargs["stdout"] = subprocess.PIPE
    proc = subprocess.Popen(args, **kwargs)
    out, _ = proc.communicate()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, args)
    return out


def get_data(package, resource):
    """Bytes of a data file inside a package, also when the package is in the pyz."""
    import pkgutil

    data = pkgutil.get_data(package, resource)
    if data is None:
        raise IOError("no resource %s in %s" % (resource, package))
    return to_bytes(data) if PY2 else data


def cpu_count():
    try:
        import multiprocessing

        return multiprocessing.cpu_count()
    except (ImportError, NotImplementedError):
        return 1


def start_new_session_kwargs():
    """Popen arguments that put the child in its own process group and session.

    The runner terminates a command's whole process group on a signal.
    ``start_new_session`` is 3.2+; ``preexec_fn`` works everywhere on POSIX.
    """
    if PY2:
        return {"preexec_fn": os.setsid}
    return {"start_new_session": True}


def is_text(value):
    return isinstance(value, string_types)


def run_with_timeout(args, timeout, env=None):
    """Run a short probe (``args`` a list); return (returncode, stdout text, stderr text).

    The returncode is None when the timeout expired: the child's whole process
    group was killed.  Raises OSError when the program cannot be started.
    ``subprocess`` has no timeout before 3.3, hence the timer thread.
    """
    if isinstance(args, string_types):
        raise TypeError("run_with_timeout takes an argument list, not a shell string")
    import subprocess

    devnull = open(os.devnull, "rb")
    try:
        proc = subprocess.Popen([to_native(arg) for arg in args], stdin=devnull, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, close_fds=True,
                                **start_new_session_kwargs())
    finally:
        devnull.close()
    expired, out, err = communicate_within(proc, timeout)
    return (None if expired else proc.returncode), to_text(out), to_text(err)


def kill_group_after(proc, timeout):
    """Start a timer that kills the process group of ``proc`` after ``timeout`` seconds.

    Return (timer, expired): cancel the timer once done; ``expired`` is a list,
    non-empty when the timer fired.
    """
    import signal
    import threading

    expired = []

    def stop():
        expired.append(True)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass

    timer = threading.Timer(timeout, stop)
    timer.daemon = True
    timer.start()
    return timer, expired


def communicate_within(proc, timeout, data=None):
    """proc.communicate(data), killing the process group of ``proc`` (started in a new
    session) after ``timeout`` seconds; return (expired, stdout bytes, stderr bytes).

    A child that exits without reading all of ``data`` is not an error (2.6's
    communicate raised EPIPE then, and lost what it had read): a thread of its own
    feeds stdin.
    """
    timer, expired = kill_group_after(proc, timeout)
    try:
        feeder = None
        if data is not None and proc.stdin is not None:
            feeder = feed_stdin(proc, data)
        out, err = proc.communicate()
        if feeder is not None:
            feeder.join(timeout)
    finally:
        timer.cancel()
    return bool(expired), out, err


def feed_stdin(proc, data):
    """Write ``data`` to the child's stdin in a daemon thread, then close it; return the
    thread.  The pipe is taken from ``proc`` (communicate() must not touch it); a child
    that stops reading ends the writing quietly."""
    import threading

    pipe, proc.stdin = proc.stdin, None

    def write():
        try:
            pipe.write(to_bytes(data))
        except (IOError, OSError):
            pass  # the child did not read it all
        try:
            pipe.close()
        except (IOError, OSError):
            pass

    thread = threading.Thread(target=write, name="stdin-feeder")
    thread.daemon = True
    thread.start()
    return thread


def read_bytes(path):
    """The whole content of a file (IOError/OSError when it cannot be read)."""
    handle = open(path, "rb")
    try:
        return handle.read()
    finally:
        handle.close()

"""One HTTP(S) request on Python 2.6 ... 3.13, certificates verified.

Python 2.7.9+ and 3.4+ verify the server with an ``ssl.SSLContext`` (CA bundle
and/or CA directory such as /etc/grid-security/certificates) and can present a
client certificate or proxy.  Older interpreters (2.6, early 2.7) or builds
without ``ssl`` cannot verify host names, so HTTPS goes through ``curl`` (or
``wget``) on the node instead.  Plain http:// and file:// use urllib directly.
"""

import errno
import json
import os
import re
import socket
import subprocess
import select
import sys
import tempfile
import threading
import time

try:
    from urllib import error as urlerror, request as urlrequest  # novm
except ImportError:  # Python 2: both in urllib2
    import urllib2 as urlerror  # novm
    urlrequest = urlerror

# The compat package itself, under whichever name it was imported: top-level in pilot.pyz and the
# checkout, pilot_server.worker.compat when installed (pilot/shims.py).
compat = sys.modules[__name__.rpartition(".")[0]]


class FetchError(Exception):
    """A request failed; ``str()`` is a one-line reason without the URL.

    ``status`` is the HTTP status when the server answered with an error, else None.
    """

    def __init__(self, reason, status=None):
        Exception.__init__(self, reason)
        self.reason = compat.to_text(reason)
        self.status = status

    # Python 2 formats an exception with str() or unicode(): both must work when the reason
    # is not ASCII (wget's messages in a UTF-8 locale quote with U+2018).
    def __str__(self):
        return compat.to_native(self.reason)

    def __unicode__(self):
        return self.reason


class NoTransport(FetchError):
    """Nothing on this node can make the request (no ssl module, no curl, no wget):
    retrying will not help."""


# curl --fail: "curl: (22) The requested URL returned error: 413" (newer curl adds the reason);
# wget --no-verbose: "... ERROR 404: Not Found."
_TOOL_STATUS = re.compile(r"returned error: (\d{3})|ERROR (\d{3}):")
# The line that says what went wrong among the tools' advice (curl's about certificates
# ends with "how to fix it, please visit the web page mentioned above.").
_TOOL_ERROR = re.compile(r"^curl: \(\d+\)|ERROR|^failed: ")
# wget's exit codes, for a failure it printed nothing about
_WGET_EXIT = {1: "generic error", 2: "parse error", 3: "file I/O error", 4: "network failure",
              5: "TLS certificate verification failure", 6: "authentication failure", 7: "protocol error",
              8: "the server answered with an error"}


def _which(name, path=None):
    for folder in (path or os.environ.get("PATH", "")).split(os.pathsep):
        candidate = os.path.join(folder, name)
        if folder and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def choose_transport(url, transport="auto"):
    """'python', 'curl' or 'wget' for this URL; raises NoTransport if none can do it."""
    if transport != "auto":
        return transport
    if not url.lower().startswith("https:") or compat.has_ssl_context():
        return "python"
    for tool in ("curl", "wget"):
        if _which(tool):
            return tool
    raise NoTransport("this Python (%s, %s) cannot verify HTTPS and neither curl nor wget is on PATH"
                      % (sys.version.split()[0], "no ssl module" if compat.ssl_module() is None else "ssl too old"))


class Limits(object):
    """Bounds of one request: ``deadline`` seconds in all (connection, headers and body) and
    ``max_bytes`` of body; None means unbounded (the per-read ``timeout`` still applies)."""

    def __init__(self, deadline=None, max_bytes=None):
        self.deadline = deadline
        self.max_bytes = max_bytes


UNBOUNDED = Limits()


def request(url, timeout=30, cafile=None, capath=None, certfile=None, keyfile=None,
            data=None, headers=None, transport="auto", method=None, limits=None):
    """Fetch ``url``; return the body as bytes.  ``data`` (bytes) makes it a POST
    (or ``method``, e.g. "PUT").

    ``transport`` forces 'python', 'curl' or 'wget' (tests use this to exercise
    the fallback on a modern interpreter); 'auto' picks as described above.
    ``limits`` (a Limits): past its deadline or size the request fails with a
    FetchError saying so (a server trickling one byte at a time, an endless body).
    """
    limits = limits or UNBOUNDED
    how = choose_transport(url, transport)
    if how == "python":
        if limits.deadline is None:
            return _request_python(url, timeout, cafile, capath, certfile, keyfile, data, headers, method,
                                   limits)
        return _within(limits.deadline, lambda state: _request_python(
            url, timeout, cafile, capath, certfile, keyfile, data, headers, method, limits, state))
    if how == "curl":
        return _request_curl(url, timeout, cafile, capath, certfile, keyfile, data, headers, method, limits)
    if how == "wget":
        if method not in (None, "GET", "POST"):
            raise FetchError("wget cannot send a %s request; install curl" % method)
        return _request_wget(url, timeout, cafile, capath, certfile, keyfile, data, headers, limits)
    raise FetchError("unknown transport %r" % how)


def _too_slow(deadline):
    return FetchError("no complete answer within %s s (the limit for this download)" % _seconds(deadline))


def _too_big(max_bytes):
    return FetchError("the answer is larger than %d bytes (the limit for this download)" % max_bytes)


def _seconds(value):
    return ("%.1f" % value).rstrip("0").rstrip(".")


def _within(deadline, call):
    """``call(state)`` in a daemon thread, waited for at most ``deadline`` s.  Past it, the
    response being read (state["response"]) is shut down so the thread ends, and the
    request fails: urllib's timeout bounds each read, not the whole (one byte every few
    seconds never trips it)."""
    state = {"expired": False}
    box = {}

    def work():
        try:
            box["value"] = call(state)
        except BaseException:
            box["error"] = sys.exc_info()[1]

    thread = threading.Thread(target=work, name="pilot-download")
    thread.daemon = True
    thread.start()
    thread.join(deadline)
    if thread.is_alive():
        state["expired"] = True
        _shut(state.get("response"))
        raise _too_slow(deadline)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _shut(response, depth=0):
    """Shut down the sockets under a urllib response (so a blocked read returns), quietly."""
    if response is None or depth > 5:
        return
    if isinstance(response, socket.socket):
        try:
            response.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
        return
    for name in ("fp", "raw", "_sock", "sock"):
        try:
            inner = getattr(response, name, None)
        except Exception:
            inner = None
        if inner is not None and inner is not response:
            _shut(inner, depth + 1)


def _read_capped(response, max_bytes):
    """The body, failing as soon as it is over ``max_bytes`` (announced or read)."""
    if max_bytes is not None:
        try:
            announced = int(response.info().get("Content-Length") or 0)
        except (ValueError, TypeError, AttributeError):
            announced = 0
        if announced > max_bytes:
            raise _too_big(max_bytes)
    chunks, size = [], 0
    while True:
        chunk = response.read(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise _too_big(max_bytes)
    return b"".join(chunks)


_CONTEXTS = {}


def verifying_context(cafile=None, capath=None):
    """A client SSLContext that verifies the server (chain to a trusted CA, validity, host name)
    the same way on every Python: the system CAs plus the CA bundle and/or directory given.

    Python 3.13 made ``create_default_context`` add ``VERIFY_X509_STRICT``, which also refuses
    chains that OpenSSL itself, Python 2.7-3.12, curl and wget accept: a CA certificate without
    a keyUsage extension (what ``openssl req -x509`` makes with its default configuration, and
    some grid CAs), a certificate without an authority key identifier.  The same logbook or
    download server must not be trusted by a pilot on Python 3.12 and refused by one on 3.13, or
    by the pilot's Python but not by its curl fallback; so that flag is cleared.
    """
    module = compat.ssl_module()
    context = module.create_default_context()
    strict = getattr(module, "VERIFY_X509_STRICT", 0)
    if strict and context.verify_flags & strict:
        context.verify_flags &= ~strict
    if cafile or capath:
        context.load_verify_locations(cafile=cafile, capath=capath)
    return context


def _ssl_context(cafile, capath, certfile, keyfile):
    """The system's trusted CAs plus the grid CA directory/bundle given.

    Additive on purpose: a grid CA directory holds IGTF CAs only, and the
    pilot also downloads from public web servers.  Made once per set of
    files (loading the system CAs costs about 20 ms; the remote log POSTs
    often) and shared: an SSLContext may be used by several threads.  A
    client certificate rewritten in place (a renewed proxy) makes a new one.
    """
    try:
        stamp = os.stat(certfile).st_mtime if certfile else None
    except OSError:
        stamp = None
    key = (cafile, capath, certfile, keyfile, stamp)
    context = _CONTEXTS.get(key)
    if context is None:
        context = verifying_context(cafile, capath)
        if certfile:
            context.load_cert_chain(certfile, keyfile or None)
        _CONTEXTS[key] = context
    return context


def _request_python(url, timeout, cafile, capath, certfile, keyfile, data, headers, method=None, limits=UNBOUNDED,
                    state=None):
    handlers = []
    if url.lower().startswith("https:"):
        try:
            context = _ssl_context(cafile, capath, certfile, keyfile)
        except (IOError, OSError, ValueError) as exc:
            raise FetchError("cannot set up TLS: %s" % _describe(exc))
        except Exception as exc:  # ssl.SSLError is an OSError only on 3.3+
            raise FetchError("cannot set up TLS: %s" % _describe(exc))
        handlers.append(urlrequest.HTTPSHandler(context=context))  # novm (only with an SSLContext)
    opener = urlrequest.build_opener(*handlers)
    req = urlrequest.Request(url, data=data)
    if method:
        req.get_method = lambda: method
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        response = opener.open(req, timeout=timeout)
        if state is not None:
            state["response"] = response
        try:
            return _read_capped(response, limits.max_bytes)
        finally:
            response.close()
    except FetchError:
        raise
    except urlerror.HTTPError as exc:
        reason = "HTTP %s %s" % (exc.code, compat.to_text(exc.msg or ""))
        detail = _error_detail(exc)
        raise FetchError(reason + (": " + detail if detail else ""), exc.code)
    except urlerror.URLError as exc:
        raise FetchError(_describe(exc.reason))
    except socket.timeout:
        raise FetchError("timed out after %s s" % timeout)
    except Exception as exc:  # ssl errors, resets, http.client oddities: all one line
        raise FetchError(_describe(exc))


def _error_detail(response):
    """The ``error`` of a JSON error body ({"error": "<one line>"}), else ''."""
    try:
        body = response.read(4096)
        document = json.loads(compat.to_text(body))
        return " ".join(compat.to_text(document.get("error", "")).split())[:300]
    except Exception:
        return ""


def _describe(reason):
    """A one-line description of a socket/ssl/OS error."""
    if isinstance(reason, socket.timeout):
        return "timed out"
    if isinstance(reason, (IOError, OSError)) and getattr(reason, "errno", None):
        text = getattr(reason, "strerror", None) or os.strerror(reason.errno)
        if reason.errno == errno.ENOENT and getattr(reason, "filename", None):
            return "%s: %s" % (text, reason.filename)
        return text
    text = compat.to_text(reason).strip() or reason.__class__.__name__
    return " ".join(text.split())


def _run_tool(args, data, what, limits=UNBOUNDED):
    """Run curl or wget; its stdout is the body.  Past the deadline or the size limit it is
    killed (their own options do not bound a body of unknown length)."""
    errors_file = tempfile.TemporaryFile()
    try:
        try:
            proc = subprocess.Popen(args, stdin=subprocess.PIPE if data is not None else None,
                                    stdout=subprocess.PIPE, stderr=errors_file, close_fds=True)
        except OSError as exc:
            raise FetchError("cannot run %s: %s" % (what, _describe(exc)))
        if data is not None:
            compat.feed_stdin(proc, data)  # not communicate(data): EPIPE on 2.6 if curl exits early
        try:
            out = _read_output(proc, limits)
        except FetchError:
            _kill(proc)
            raise
        proc.wait()
        errors_file.seek(0)
        err = errors_file.read(65536)
    finally:
        errors_file.close()
    if proc.returncode:
        lines = [line.strip() for line in compat.to_text(err).splitlines() if line.strip()]
        errors = [line for line in lines if _TOOL_ERROR.search(line)]
        if errors:
            reason = errors[0]
        elif lines:
            reason = lines[-1]
        else:
            reason = "exit code %d" % proc.returncode
            if what == "wget" and proc.returncode in _WGET_EXIT:
                reason += " (%s)" % _WGET_EXIT[proc.returncode]
        match = _TOOL_STATUS.search(reason)
        status = match and (match.group(1) or match.group(2))
        raise FetchError("%s: %s" % (what, reason), int(status) if status else None)
    return out


def _read_output(proc, limits):
    """The child's stdout to its end, within the limits (FetchError past them)."""
    fd = proc.stdout.fileno()
    chunks, size = [], 0
    ends = time.time() + limits.deadline if limits.deadline is not None else None
    try:
        while True:
            wait = None if ends is None else ends - time.time()
            if wait is not None and wait <= 0:
                raise _too_slow(limits.deadline)
            try:
                ready = select.select([fd], [], [], wait)[0]
            except (select.error, OSError, IOError) as exc:
                if getattr(exc, "errno", None) == errno.EINTR or (exc.args and exc.args[0] == errno.EINTR):
                    continue
                raise
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if limits.max_bytes is not None and size > limits.max_bytes:
                raise _too_big(limits.max_bytes)
    finally:
        proc.stdout.close()
    return b"".join(chunks)


def _kill(proc):
    try:
        proc.kill()
    except OSError:
        pass
    try:
        proc.wait()
    except OSError:
        pass


def _request_curl(url, timeout, cafile, capath, certfile, keyfile, data, headers, method=None, limits=UNBOUNDED):
    # With a deadline, curl's own bound is a backstop: the reader stops it first, with its message.
    max_time = timeout if limits.deadline is None else limits.deadline + 5
    args = [_which("curl") or "curl", "--silent", "--show-error", "--fail", "--location",
            "--max-time", str(max(1, int(max_time))), "--connect-timeout", str(int(min(timeout, 30)))]
    if limits.max_bytes is not None:
        args += ["--max-filesize", str(int(limits.max_bytes))]
    if cafile:
        args += ["--cacert", cafile]
    if capath:
        args += ["--capath", capath]
    if certfile:
        args += ["--cert", certfile]
        args += ["--key", keyfile or certfile]
    if method:
        args += ["--request", method]
    if data is not None:
        args += ["--data-binary", "@-"]
    if not headers:
        return _run_tool(args + ["--", url], data, "curl", limits)
    # Headers may carry a bearer token: never put them on a command line that
    # other users of the node can read in /proc; hand them over in a 0600 file.
    fd, config = tempfile.mkstemp(prefix="pilot-curl-", suffix=".cfg")
    try:
        lines = ['header = "%s: %s"\n' % (key, value.replace('"', '\\"'))
                 for key, value in headers.items()]
        os.write(fd, compat.to_bytes("".join(lines)))
        os.close(fd)
        return _run_tool(args + ["--config", config, "--", url], data, "curl", limits)
    finally:
        os.remove(config)


def _request_wget(url, timeout, cafile, capath, certfile, keyfile, data, headers, limits=UNBOUNDED):
    args = [_which("wget") or "wget", "--no-verbose", "--output-document=-", "--tries=1",
            "--timeout=%d" % int(timeout)]
    if cafile:
        args.append("--ca-certificate=%s" % cafile)
    if capath:
        args.append("--ca-directory=%s" % capath)
    if certfile:
        args.append("--certificate=%s" % certfile)
        args.append("--private-key=%s" % (keyfile or certfile))
    for key, value in (headers or {}).items():
        # wget takes headers on its command line, which other users of the node can read
        if key.lower() == "authorization":
            raise FetchError("wget cannot send a credential without showing it on its command line; install curl")
        args.append("--header=%s: %s" % (key, value))
    if data is not None:
        # wget has no "body from stdin"; the data is small (log batches), pass it inline.
        args.append("--post-data=%s" % compat.to_native(data))
    args += ["--", url]
    return _run_tool(args, None, "wget", limits)

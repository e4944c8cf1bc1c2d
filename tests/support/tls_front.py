"""TLS in front of a plain TCP service, for the tests' HTTPS and STOMP+TLS servers.

``TlsProxy`` accepts TLS on 127.0.0.1:<port> and relays the bytes to a plain
service.  ``tls_front(certs, target)`` starts one in this process when this
Python can serve TLS, else in a Python 3 child process: Python 2.6 has no ssl
module, yet its tests still talk to real HTTPS servers (the pilot then goes
through curl or wget).  Standard library only, Python 2.6 syntax; as a script
(``python3 tls_front.py CERT KEY HOST PORT``) it prints its port and relays
until its stdin closes.
"""

import os
import socket
import subprocess
import sys
import threading

try:
    from http.server import HTTPServer
    from socketserver import ThreadingMixIn
except ImportError:  # Python 2
    from BaseHTTPServer import HTTPServer
    from SocketServer import ThreadingMixIn


class TlsProxy(object):
    """Accepts TLS on 127.0.0.1:<port> and relays the bytes to ``target`` (host, port)."""

    def __init__(self, ssl_context, target):
        self.context = ssl_context
        self.target = target
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.stopped = False
        thread = threading.Thread(target=self._accept)
        thread.daemon = True
        thread.start()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except (socket.error, OSError):
                return
            thread = threading.Thread(target=self._serve, args=(client,))
            thread.daemon = True
            thread.start()

    def _serve(self, client):
        try:
            secure = self.context.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(self.target, 10)
        except Exception:
            client.close()
            return
        for source, sink in ((secure, upstream), (upstream, secure)):
            thread = threading.Thread(target=_pump, args=(source, sink))
            thread.daemon = True
            thread.start()

    def close(self):
        self.stopped = True
        try:
            self.listener.close()
        except (socket.error, OSError):
            pass


def _pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except Exception:
        pass
    for sock in (source, sink):
        try:
            sock.close()
        except Exception:
            pass


def can_serve_tls():
    try:
        import ssl
    except ImportError:
        return False
    return hasattr(ssl, "SSLContext") and hasattr(ssl, "create_default_context")


def server_context(cert, key):
    import ssl

    protocol = getattr(ssl, "PROTOCOL_TLS_SERVER", None) or getattr(ssl, "PROTOCOL_SSLv23")
    context = ssl.SSLContext(protocol)  # novm (only called where can_serve_tls())
    context.load_cert_chain(cert, key)
    return context


class TlsCapableHTTPServer(ThreadingMixIn, HTTPServer):
    """A threaded HTTP server on 127.0.0.1, HTTPS when ``ssl_context`` is set.  The TLS handshake
    happens in the request's thread, so a client that rejects the certificate cannot block it."""

    daemon_threads = True
    allow_reuse_address = True
    ssl_context = None

    def finish_request(self, request, client_address):
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except Exception:
                return
            self.tls_accepted(request)
        HTTPServer.finish_request(self, request, client_address)

    def tls_accepted(self, request):
        """Called with each TLS-wrapped connection before it is served."""

    def handle_error(self, request, client_address):
        pass  # clients that hang up or reject the certificate are expected


class _ChildProxy(object):
    """A TlsProxy run by a Python 3 child; close() ends it."""

    def __init__(self, python, cert, key, target):
        argv = [python, os.path.abspath(__file__), cert, key, target[0], str(target[1])]
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        except OSError as exc:
            raise AssertionError("cannot start a TLS front with %s (set PILOT_BUILDER_PYTHON): %s" % (python, exc))
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.proc.kill()
            raise AssertionError("the TLS front (%s) did not start" % " ".join(argv))
        self.port = int(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def tls_front(cert, key, target, python3="python3"):
    """TLS with ``cert``/``key`` on 127.0.0.1:<port> in front of ``target``; has .port and .close()."""
    if can_serve_tls():
        return TlsProxy(server_context(cert, key), target)
    return _ChildProxy(python3, cert, key, target)


if __name__ == "__main__":
    proxy = TlsProxy(server_context(sys.argv[1], sys.argv[2]), (sys.argv[3], int(sys.argv[4])))
    sys.stdout.write("%d\n" % proxy.port)
    sys.stdout.flush()
    sys.stdin.read()  # until the test closes the pipe (or ends)
    proxy.close()

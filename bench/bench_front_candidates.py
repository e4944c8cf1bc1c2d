#!/usr/bin/env python3
"""Which event-loop server for the logbook's front: memory per idle TLS connection, requests/s, client chain.

Each candidate serves one tiny handler (read the body, answer a small JSON reply) over
TLS in a process of its own, on this machine's Python:

* ``uvicorn-uvloop``: uvicorn with uvloop and httptools, under Starlette (ASGI);
* ``uvicorn-asyncio``: the same on the standard asyncio loop (its TLS is ``asyncio.sslproto``);
* ``tornado``: Tornado's HTTPServer (DIRAC's HTTPS services use Tornado), on asyncio;
* ``uvloop-httptools``: an asyncio protocol of our own on uvloop's TLS, parsing with httptools
  (the pieces uvicorn is made of, without the ASGI layer).

For each: ``--connections`` TLS keep-alive clients (bench/loadgen.py processes, each
from its own 127.0.0.x address) connect, send one batch and stay open; the server's
RSS (``/proc/PID/status``) is read before and while they are held: KB per connection
= RSS growth / connections held.  Then ``--rps-clients`` clients send batches back to
back for ``--seconds``: requests/s.  Last, a client with an RFC 3820 proxy asks the
server which DN it sees: whether the verified chain reaches the handler.

Usage: ``.venv/bin/python bench/bench_front_candidates.py [--connections 4000] [--candidates a,b]``.
Prints a table; asserts nothing.  Loopback only, bounded in time.
"""

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, "pilot_src"), os.path.join(REPO, "tests"), os.path.join(REPO, "tests", "server")]

CANDIDATES = ("uvicorn-uvloop", "uvicorn-asyncio", "tornado", "uvloop-httptools")
REPLY = b'{"stored":5,"duplicates":0}'


# -- the servers (run with --serve NAME in a process of their own) ----------------------------------


def chain_dn(ssl_object):
    """The DN the handler can see from an SSLObject/SSLSocket, or a note why not."""
    from pilot_server.logbook.receive.x509identity import peer_dn

    if ssl_object is None:
        return "(no TLS object reachable)"
    return peer_dn(ssl_object) or "(no client certificate)"


def serve_uvicorn(port, context, loop):
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    async def logs(request):
        await request.body()
        return Response(REPLY, media_type="application/json")

    async def dn(request):
        # the ASGI scope has no TLS object; a subclass of uvicorn's protocol (below) adds it
        ssl_object = request.scope.get("extensions", {}).get("pilots2.ssl_object")
        return JSONResponse({"dn": chain_dn(ssl_object)})

    class ChainProtocol(HttpToolsProtocol):
        def on_headers_complete(self):
            ssl_object = self.transport.get_extra_info("ssl_object")
            self.scope.setdefault("extensions", {})["pilots2.ssl_object"] = ssl_object
            HttpToolsProtocol.on_headers_complete(self)

    app = Starlette(routes=[Route("/api/v1/logs", logs, methods=["POST"]), Route("/dn", dn)])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop=loop,
        http=ChainProtocol,
        lifespan="off",
        log_level="warning",
        timeout_keep_alive=120,
        backlog=4096,
        access_log=False,
    )
    config.load()
    config.ssl = context
    uvicorn.Server(config).run()


def serve_tornado(port, context):
    import asyncio

    import tornado.httpserver
    import tornado.web

    class Logs(tornado.web.RequestHandler):
        def post(self):
            self.set_header("Content-Type", "application/json")
            self.write(REPLY)

    class DN(tornado.web.RequestHandler):
        def get(self):
            self.write({"dn": chain_dn(self.request.connection.stream.socket)})

    async def main():
        app = tornado.web.Application([("/api/v1/logs", Logs), ("/dn", DN)])
        server = tornado.httpserver.HTTPServer(app, ssl_options=context, idle_connection_timeout=120)
        server.listen(port, "127.0.0.1", backlog=4096)
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_uvloop_httptools(port, context):
    import asyncio

    import httptools
    import uvloop

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)
            self.url = b""

        def data_received(self, data):
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.close()

        def on_url(self, url):
            self.url = url

        def on_message_complete(self):
            if self.url == b"/dn":
                body = json.dumps({"dn": chain_dn(self.transport.get_extra_info("ssl_object"))}).encode()
            else:
                body = REPLY
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            Protocol, "127.0.0.1", port, ssl=context, backlog=4096, ssl_handshake_timeout=10
        )
        await server.serve_forever()

    uvloop.run(main())


def serve(name, port, cert, key, ca_dir):
    from pilot_server.logbook.receive import tlsconfig

    context = tlsconfig.server_context(cert, key, ca_dir=ca_dir)
    if name == "uvicorn-uvloop":
        serve_uvicorn(port, context, "uvloop")
    elif name == "uvicorn-asyncio":
        serve_uvicorn(port, context, "asyncio")
    elif name == "tornado":
        serve_tornado(port, context)
    elif name == "uvloop-httptools":
        serve_uvloop_httptools(port, context)
    else:
        raise SystemExit("unknown candidate %s" % name)


# -- the measurements ------------------------------------------------------------------------------


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_generators(port, ca_file, roles_per_process, duration, interval, ramp, processes, extra=None):
    """Start loadgen processes (one 127.0.0.x each); returns the Popen list (collect with collect())."""
    start_at = time.time() + 1.0
    procs = []
    for index in range(processes):
        job = {
            "host": "127.0.0.1",
            "port": port,
            "source": "127.0.0.%d" % (index + 2),
            "ca_file": ca_file,
            "duration": duration,
            "ramp": ramp,
            "roles": roles_per_process,
            "interval": interval,
            "messages": 5,
            "start_at": start_at,
            "secret": None,
        }
        job.update(extra or {})
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "loadgen.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
        procs.append(proc)
    return procs


def collect(procs):
    results = []
    for proc in procs:
        out = proc.stdout.read()
        proc.wait()
        results.append(json.loads(out.decode()) if out else {})
    return results


def measure(name, args, pki_files):
    from support.ports import free_port, port_open
    from support.waiting import wait_until

    cert, key, ca_dir, ca_file, proxy_files = pki_files
    port = free_port()
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            name,
            "--port",
            str(port),
            "--cert",
            cert,
            "--key",
            key,
            "--ca-dir",
            ca_dir,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: port_open(port), 30, 0.1, what="%s to listen" % name)
        # warm up: a few connections, so that imports and the first allocations are done
        collect(run_generators(port, ca_file, {"rps": 10}, 2, 30, 0, 1))
        time.sleep(1)
        base_rss, base_fds = rss_kb(server.pid), open_fds(server.pid)
        per = args.connections // args.processes
        held = args.ramp + 12
        procs = run_generators(port, ca_file, {"pilot": per}, held + 8, 10, args.ramp, args.processes)
        time.sleep(1 + held)
        loaded_rss, loaded_fds = rss_kb(server.pid), open_fds(server.pid)
        results = collect(procs)
        held_conns = loaded_fds - base_fds
        ok = sum(r.get("statuses", {}).get("200", 0) for r in results)
        per_conn = (loaded_rss - base_rss) / max(1, held_conns)
        time.sleep(2)
        # requests per second, keep-alive, back to back
        cpu0 = cpu_seconds(server.pid)
        procs = run_generators(port, ca_file, {"rps": args.rps_clients // 2}, args.seconds, 30, 0, 2)
        results = collect(procs)
        cpu = cpu_seconds(server.pid) - cpu0
        done = sum(r.get("statuses", {}).get("200", 0) for r in results)
        rps = done / float(args.seconds)
        # the client chain: a proxy of alice
        context = ssl.create_default_context(cafile=ca_file)
        context.check_hostname = False
        context.load_cert_chain(proxy_files[0], proxy_files[1])
        import http.client

        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        try:
            connection.request("GET", "/dn")
            dn = json.loads(connection.getresponse().read().decode()).get("dn")
        except Exception as exc:
            dn = "error: %s" % exc
        finally:
            connection.close()
        return {
            "candidate": name,
            "held": held_conns,
            "ok_first": ok,
            "base_mb": base_rss / 1024.0,
            "rss_mb": loaded_rss / 1024.0,
            "kb_per_conn": per_conn,
            "rps": rps,
            "cpu_ms_per_req": 1000.0 * cpu / max(1, done),
            "dn": dn,
        }
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cert", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--ca-dir", help=argparse.SUPPRESS)
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--connections", type=int, default=4000, help="TLS keep-alive clients held (default 4000)")
    parser.add_argument("--processes", type=int, default=4, help="load generator processes (default 4)")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which they connect (default 10)")
    parser.add_argument("--rps-clients", type=int, default=64, help="clients sending back to back (default 64)")
    parser.add_argument("--seconds", type=int, default=10, help="length of the requests/s run (default 10)")
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve, args.port, args.cert, args.key, args.ca_dir)
    from logbook_support import PKI

    scratch = tempfile.mkdtemp(prefix="pilots2-front-")
    pki = PKI(scratch)
    pki.rehash()
    cert, key = pki.server()
    alice_cert, alice_key, alice_dn, _ = pki.user("alice")
    _, _, proxy_files = pki.proxy("alice-proxy", alice_cert, alice_key, [alice_cert])
    files = (cert, key, pki.ca_dir, pki.ca_file, proxy_files)
    print(
        "Python %s; load %s; %d TLS keep-alive connections from %d processes"
        % (sys.version.split()[0], os.getloadavg()[0], args.connections, args.processes)
    )
    print(
        "%-18s %8s %9s %9s %10s %8s %11s  %s"
        % ("candidate", "held", "base MB", "held MB", "KB/conn", "req/s", "CPU ms/req", "DN seen (alice's proxy)")
    )
    for name in args.candidates.split(","):
        row = measure(name, args, files)
        print(
            "%-18s %8d %9.1f %9.1f %10.1f %8.0f %11.2f  %s"
            % (
                row["candidate"],
                row["held"],
                row["base_mb"],
                row["rss_mb"],
                row["kb_per_conn"],
                row["rps"],
                row["cpu_ms_per_req"],
                row["dn"] + (" (ok)" if row["dn"] == alice_dn else ""),
            )
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()

"""The JSON API over a real HTTP server: admin reads, state reports, export, stats; refusals."""

import binascii
import gzip
import http.client
import json
import time

import pytest

from logbook_support import (
    SECRET,  # noqa: F401
    backend,  # noqa: F401
    bearer,
    body,
    databases,  # noqa: F401
    new_stamp,
    post,  # noqa: F401
    result_message,
    session_stores,  # noqa: F401
    session_urls,  # noqa: F401
    start_server,
    store,  # noqa: F401
    token,
)
from pilot_server.worker import messages as wire
from pilot_server.logbook.receive.access import Access, Identity
from pilot_server.logbook.receive.intake import Refused
from pilot_server.logbook.clients.submitter import HTTPSubmitter, LocalSubmitter, SubmitterError

ADMIN_SECRET = b"admin-secret-0123456789abcdef01234567"
ADMIN = binascii.hexlify(ADMIN_SECRET).decode("ascii")


@pytest.fixture
def server(store):
    running = start_server(store, admin_secrets=(ADMIN_SECRET,))
    yield running
    running.stop()


def get(url, path, credential=None):
    host, port = url.split("://")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": "Bearer " + credential} if credential else {})
        response = connection.getresponse()
        raw = response.read()
        if response.getheader("Content-Type") == "application/json":
            return response.status, json.loads(raw.decode("utf-8"))
        return response.status, raw
    finally:
        connection.close()


def state(url, stamp, document, credential=ADMIN):
    return post(url, "/api/v1/pilots/%s/state" % stamp, json.dumps(document).encode(), bearer(credential))


def test_states_over_http_with_the_submitter_library(server):
    submitter = HTTPSubmitter(server.url, admin_token=ADMIN)
    stamp = new_stamp()
    assert (
        submitter.register(stamp, ce="ce01", queue="long", site="LCG.Test.org", vo="vo1", submitted=time.time()) is True
    )
    assert submitter.report_state(stamp, "Running", time.time()) == {
        "stamp": stamp,
        "state": "Running",
        "previous": "Submitted",
        "changed": True,
    }
    assert post(server.url, "/api/v1/logs", body(stamp, [1, 2]), bearer(token(stamp)))[0] == 200
    assert submitter.report_state(stamp, "Done")["changed"] is True
    with pytest.raises(SubmitterError) as refused:
        submitter.report_state(stamp, "Running")
    assert refused.value.status == 409 and str(refused.value) == "409 Done -> Running is not allowed (Done is final)"
    status, answer = get(server.url, "/api/v1/pilots/%s" % stamp, ADMIN)
    assert status == 200 and answer["pilot"]["status"] == "Done"
    assert [item["state"] for item in answer["states"]] == ["Submitted", "Running", "Done"]


@pytest.mark.parametrize(
    "document, status, error",
    [
        ({"state": "Zombie"}, 400, "unknown state 'Zombie'"),
        ({"state": "Lost"}, 400, "Lost is decided by the logbook"),
        ({}, 400, "missing or bad field: state"),
        ({"state": "Running", "time": -1}, 400, "field 'time' must be a finite number from 0"),
        ({"state": "Running", "colour": "red"}, 400, "unknown field: colour"),
    ],
)
def test_bad_state_reports_get_400(server, document, status, error):
    stamp = new_stamp()
    server.server.store.register(stamp)
    answer = state(server.url, stamp, document)
    assert answer[0] == status and error in answer[1]["error"] and "\n" not in answer[1]["error"]


def test_state_report_refusals(server):
    stamp = new_stamp()
    assert state(server.url, stamp, {"state": "Running"})[0] == 404
    server.server.store.register(stamp)
    assert state(server.url, stamp, {"state": "Running"}, credential=token(stamp))[0] == 403
    assert post(server.url, "/api/v1/pilots/%s/state" % stamp, b'{"state": "Running"}', {})[0] == 401
    assert post(server.url, "/api/v1/pilots/%s/state" % stamp, b"{not json", bearer(ADMIN))[0] == 400
    assert state(server.url, "bad%20stamp", {"state": "Running"})[0] == 400
    assert state(server.url, stamp, {"state": "Aborted"})[1]["changed"] is True
    status, answer = state(server.url, stamp, {"state": "Waiting"})
    assert (status, answer) == (409, {"error": "Aborted -> Waiting is not allowed (Aborted is final)"})


def test_reads_need_an_admin_credential(server):
    stamp = new_stamp()
    post(server.url, "/api/v1/logs", body(stamp, [1]), bearer(token(stamp)))
    for path in (
        "/api/v1/pilots",
        "/api/v1/pilots/%s" % stamp,
        "/api/v1/pilots/%s/messages" % stamp,
        "/api/v1/pilots/%s/export" % stamp,
        "/api/v1/stats",
    ):
        assert get(server.url, path)[0] == 401, path
        status, answer = get(server.url, path, token(stamp))
        assert status == 403 and "admin" in answer["error"], path
        assert get(server.url, path, ADMIN)[0] == 200, path
    access = Access(admin_dns=["/DC=org/CN=admin"], trusted_dns=["/DC=org/CN=sitedirector"])
    access.may_read(Identity("dn", "/DC=org/CN=admin", None))
    for identity in (Identity("dn", "/DC=org/CN=sitedirector", None), Identity("token", stamp, {})):
        with pytest.raises(Refused) as refused:
            access.may_read(identity)
        assert refused.value.status == 403


def test_list_show_messages_export_and_stats(server):
    stamp = new_stamp()
    server.server.store.register(stamp, site="LCG.Api.org", vo="api")
    items = [wire.message(stamp, seq, time.time(), "line %d" % seq) for seq in (1, 2, 3)]
    items.append(result_message(stamp, 4, exit_code=0))
    post(server.url, "/api/v1/logs", wire.encode(wire.batch(stamp, items)), bearer(token(stamp)))
    status, answer = get(server.url, "/api/v1/pilots?site=LCG.Api.org&status=done&limit=5", ADMIN)
    assert status == 200 and [row["stamp"] for row in answer["pilots"]] == [stamp]
    assert get(server.url, "/api/v1/pilots?site=LCG.Api.org&status=Running", ADMIN)[1] == {"pilots": []}
    status, answer = get(server.url, "/api/v1/pilots/%s/messages?after=1&limit=2" % stamp, ADMIN)
    assert [item["seq"] for item in answer["messages"]] == [2, 3]
    status, archive = get(server.url, "/api/v1/pilots/%s/export" % stamp, ADMIN)
    document = json.loads(gzip.decompress(archive).decode("utf-8"))
    assert status == 200 and document["format"] == "pilots2/export/1"
    assert [item["seq"] for item in document["messages"]] == [1, 2, 3, 4]
    assert [item["state"] for item in document["states"]] == ["Submitted", "Running", "Done"]
    status, figures = get(server.url, "/api/v1/stats?vo=api&by=site&since=1h", ADMIN)
    assert status == 200 and figures["states"]["Done"] == 1 and figures["groups"][0]["key"] == "LCG.Api.org"


@pytest.mark.parametrize(
    "path, status, error",
    [
        ("/api/v1/pilots?status=Zombie", 400, "status: unknown state"),
        ("/api/v1/pilots?colour=red", 400, "unknown parameter 'colour'"),
        ("/api/v1/pilots?limit=0", 400, "limit must be an integer from 1 to 1000"),
        ("/api/v1/pilots?since=yesterday", 400, "since: not a time"),
        ("/api/v1/pilots?site=a&site=b", 400, "given more than once"),
        ("/api/v1/stats?by=colour", 400, "cannot group by 'colour'"),
        ("/api/v1/stats?until=never", 400, "until: not a time"),
        ("/api/v1/pilots/0123456789abcdef0123456789abcdef", 404, "unknown pilot stamp"),
        ("/api/v1/pilots/0123456789abcdef0123456789abcdef/messages", 404, "unknown pilot stamp"),
        ("/api/v1/pilots/0123456789abcdef0123456789abcdef/export", 404, "unknown pilot stamp"),
        ("/api/v1/pilots/bad%20stamp", 400, "bad pilot stamp"),
    ],
)
def test_bad_reads_get_one_line_errors(server, path, status, error):
    answer = get(server.url, path, ADMIN)
    assert answer[0] == status and error in answer[1]["error"] and "\n" not in answer[1]["error"]


def test_the_local_submitter_maps_refusals_to_statuses(store):
    submitter = LocalSubmitter(store)
    stamp = new_stamp()
    assert submitter.register(stamp, site="LCG.Local.org") is True
    for state_name, status in (("Zombie", 400), ("Lost", 400)):
        with pytest.raises(SubmitterError) as refused:
            submitter.report_state(stamp, state_name)
        assert refused.value.status == status
    with pytest.raises(SubmitterError) as refused:
        submitter.report_state(new_stamp(), "Running")
    assert refused.value.status == 404
    with pytest.raises(SubmitterError) as refused:
        submitter.register("bad stamp")
    assert refused.value.status == 400

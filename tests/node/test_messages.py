"""The message schema's rules (pilot/messages.py), shared by the pilot and the logbook.

Every field has a type and a range; a problem names the field.  Python 2.6 ... 3.13.
"""

import json

import pytest

from pilot import messages

STAMP = "0123456789abcdef0123456789abcdef"
NAN = float("nan")
INF = float("inf")


def good(**fields):
    item = messages.message(STAMP, 1, 1763737440.123456, "a line", source="InstallDIRAC")
    item.update(fields)
    return item


def command_end(data):
    return good(kind="command", status="ok", data=data)


def result(data):
    return good(kind="result", status="done", data=data)


def deep(levels):
    value = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_what_the_pilot_sends_passes():
    data = {"pilot": {"exit_code": 0, "failed_command": None, "reason": None, "failure_type": None,
                      "duration": 12.5},
            "commands": [{"name": "InstallDIRAC", "status": "ok", "start": "2026-11-21T16:48:50.120031Z",
                          "duration": 3.25, "failure_type": None, "reason": None},
                         {"name": "LaunchAgent", "status": "not run", "start": None, "duration": None,
                          "failure_type": None, "reason": None}],
            "usage": {"cpu_seconds": 1.5, "max_rss_mb": 80, "jobs": None}, "db12": 11.7}
    for item in (good(), good(time=0), good(time=messages.MAX_TIME), good(seq=messages.MAX_SEQ),
                 command_end({"duration": 0.5, "failure_type": "command", "reason": "exit 2"}),
                 result(data), good(kind="heartbeat", data={"load1": 0.5, "memory_available_mb": 2 ** 40,
                                                            "big": -2 ** 63, "nested": deep(31)})):
        assert messages.message_problem(item, STAMP) is None, item
        assert messages.validate_message(item, STAMP)["seq"] == item["seq"]


@pytest.mark.parametrize("fields, named", [
    ({"time": NAN}, "'time'"),
    ({"time": INF}, "'time'"),
    ({"time": -INF}, "'time'"),
    ({"time": 1e300}, "'time'"),
    ({"time": -1}, "'time'"),
    ({"time": messages.MAX_TIME + 1}, "'time'"),
    ({"time": "1763737440"}, "'time'"),
    ({"time": True}, "'time'"),
    ({"seq": 0}, "'seq'"),
    ({"seq": 2 ** 63}, "'seq'"),
    ({"seq": True}, "'seq'"),
    ({"seq": 1.0}, "'seq'"),
    ({"seq": NAN}, "'seq'"),
    ({"stamp": "a b"}, "'stamp'"),
    ({"kind": "log", "level": "LOUD"}, "'level'"),
    ({"source": ""}, "'source'"),
    ({"phase": "x" * 65}, "'phase'"),
    ({"text": 42}, "'text'"),
    ({"stream": "stdlog"}, "'stream'"),
    ({"data": [1]}, "'data'"),
    ({"data": {"load": NAN}}, "'data.load'"),
    ({"data": {"a": {"b": [1, INF]}}}, "'data.a.b[1]'"),
    ({"data": {"n": 10 ** 30}}, "'data.n'"),
    ({"data": {"n": -2 ** 63 - 1}}, "'data.n'"),
    ({"data": {"deep": deep(32)}}, "nested deeper than 32"),
    ({"data": {"text": "x" * (messages.MAX_DATA_BYTES + 1)}}, "over the limit"),
])
def test_each_bad_value_is_named(fields, named):
    problem = messages.message_problem(good(**fields), STAMP)
    assert problem is not None and named in problem, problem
    with pytest.raises(messages.MessageError) as refused:
        messages.validate_message(good(**fields), STAMP)
    assert str(refused.value) == problem


@pytest.mark.parametrize("item, named", [
    (command_end({"duration": 1e308}), "'data.duration'"),
    (command_end({"duration": -1e308}), "'data.duration'"),
    (command_end({"duration": -0.5}), "'data.duration'"),
    (command_end({"duration": "3 s"}), "'data.duration'"),
    (command_end({"reason": {"why": "no"}}), "'data.reason'"),
    (command_end({"failure_type": 3}), "'data.failure_type'"),
    (result({"pilot": {"exit_code": 10 ** 30}}), "'data.pilot.exit_code'"),
    (result({"pilot": {"exit_code": 2 ** 31}}), "'data.pilot.exit_code'"),
    (result({"pilot": {"exit_code": 1.5}}), "'data.pilot.exit_code'"),
    (result({"exit_code": True}), "'data.exit_code'"),
    (result({"pilot": {"exit_code": 1, "reason": {"a": 1}}}), "'data.pilot.reason'"),
    (result({"pilot": {"exit_code": 1, "failed_command": ["A"]}}), "'data.pilot.failed_command'"),
    (result({"commands": {"A": 1}}), "'data.commands'"),
    (result({"commands": ["A"]}), "'data.commands[0]'"),
    (result({"commands": [{"name": "A", "duration": 1e308}]}), "'data.commands[0].duration'"),
    (result({"commands": [{"name": "A", "start": 1e300}]}), "'data.commands[0].start'"),
    (result({"commands": [{"name": "A", "reason": 7}]}), "'data.commands[0].reason'"),
    (result({"db12": 1e300}), "'data.db12'"),
    (result({"db12": {"score": NAN}}), "'data.db12.score'"),
])
def test_the_fields_the_logbook_reads_have_their_own_rules(item, named):
    problem = messages.message_problem(item, STAMP)
    assert problem is not None and named in problem, problem


def test_a_batch_names_the_message_and_the_field():
    items = [good(seq=seq) for seq in range(1, 16)]
    items[3]["time"] = NAN
    with pytest.raises(messages.MessageError) as refused:
        messages.validate_batch(messages.batch(STAMP, items))
    assert str(refused.value).startswith("message 3: field 'time' must be a finite number from 0 to 253402300799")
    assert str(refused.value).endswith("not nan")


def test_json_on_the_wire_nan_and_deep_nesting():
    body = messages.encode(messages.batch(STAMP, [good()])).replace(b'"time":1763737440.123456', b'"time":NaN')
    with pytest.raises(messages.MessageError) as refused:
        messages.decode_batch(body)
    assert "field 'time'" in str(refused.value)
    too_deep = b'{"schema": "pilots2/log/1", "messages": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    with pytest.raises(messages.MessageError) as refused:
        messages.decode_batch(too_deep)
    assert "malformed JSON" in str(refused.value)


@pytest.mark.parametrize("document, named", [
    ({"stamp": STAMP, "submitted": NAN}, "'submitted'"),
    ({"stamp": STAMP, "submitted": 1e300}, "'submitted'"),
    ({"stamp": STAMP, "submitted": -1}, "'submitted'"),
    ({"stamp": STAMP, "site": {"name": "x"}}, "'site'"),
    ({"stamp": STAMP, "ce": "c" * 129}, "'ce'"),
    ({"stamp": "not a stamp"}, "'stamp'"),
    ({"stamp": STAMP, "colour": "red"}, "'colour'"),
])
def test_registration_fields(document, named):
    problem = messages.registration_problem(document)
    assert problem is not None and named in problem, problem


def test_a_good_registration_and_the_messages_json():
    assert messages.registration_problem({"stamp": STAMP, "ce": "ce01", "queue": "long", "site": "LCG.X.org",
                                          "vo": "vo1", "submitted": 1763737440.5}) is None
    assert messages.registration_problem({"stamp": STAMP, "submitted": None}) is None
    shown = messages.message_problem(good(text="x" * 10, time="t" * 500), STAMP)
    assert len(shown) < 200 and json.dumps(shown)

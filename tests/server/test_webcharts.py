"""The SVG charts of the web page: well-formed, escaped, one mark per item, scaled to the data."""

import xml.etree.ElementTree as ET

from pilot_server.logbook.web import charts as webcharts, data as webdata

SVG = "{http://www.w3.org/2000/svg}"

FIGURES = {
    "states": {"Done": 70, "Failed": 12, "Running": 8, "Lost": 2},
    "groups": [
        {"key": "LCG.CERN.ch", "states": {"Done": 50, "Failed": 2}, "total": 52},
        {"key": "<b>site</b>", "states": {"Done": 20, "Failed": 10, "Running": 8, "Lost": 2}, "total": 40},
    ],
    "commands": [
        {
            "name": "CheckWorkerNode",
            "count": 92,
            "failed": 2,
            "failure_rate": 2 / 92.0,
            "median": 1.5,
            "p90": 3.0,
            "max": 9.0,
            "reasons": [["not enough disk space", 2]],
        },
        {
            "name": "InstallDIRAC",
            "count": 90,
            "failed": 10,
            "failure_rate": 1 / 9.0,
            "median": 60.0,
            "p90": 150.0,
            "max": 600.0,
            "reasons": [["download failed: timeout", 7], ["<script>x</script>", 3]],
        },
        {
            "name": "LaunchAgent",
            "count": 80,
            "failed": 0,
            "failure_rate": 0.0,
            "median": None,
            "p90": None,
            "max": None,
            "reasons": [],
        },
    ],
    "submit_to_running": {"count": 90, "median": 120.0, "p90": 900.0, "max": 3600.0},
    "db12": {
        "count": 80,
        "median": 21.5,
        "min": 5.0,
        "max": 44.0,
        "histogram": [[0, 10, 5], [10, 20, 30], [20, 30, 35], [30, 40, 9], [40, 50, 1]],
    },
}


def parse(markup):
    assert markup.startswith("<svg"), markup[:200]
    return ET.fromstring(markup)  # raises on anything not well-formed


def test_the_timeline_has_one_bar_per_command_and_marks_failures():
    commands = [
        {
            "name": "CheckWorkerNode",
            "start": 100.0,
            "end": 102.0,
            "status": "ok",
            "duration": 2.0,
            "reason": None,
            "failure_type": None,
        },
        {
            "name": "InstallDIRAC",
            "start": 102.5,
            "end": 140.0,
            "status": "failed",
            "duration": 37.5,
            "reason": 'pip: <no route> & "host"',
            "failure_type": "network",
        },
    ]
    root = parse(webcharts.timeline(commands, ["ConfigureDIRAC"]))
    bars = [group for group in root.iter(SVG + "g") if "bar" in group.get("class", "").split()]
    assert [(bar.get("data-command"), bar.get("class")) for bar in bars] == [
        ("CheckWorkerNode", "bar ok"),
        ("InstallDIRAC", "bar failed"),
    ]
    title = bars[1].find(SVG + "title").text
    assert title == 'InstallDIRAC: failed after 37.5 s (network): pip: <no route> & "host"'
    rects = [bar.find(SVG + "rect") for bar in bars]
    # bars are placed along time: the second starts after the first ends and is much longer
    assert float(rects[1].get("x")) >= float(rects[0].get("x")) + float(rects[0].get("width"))
    assert float(rects[1].get("width")) > 10 * float(rects[0].get("width"))
    assert [node.get("data-command") for node in root.iter(SVG + "text") if node.get("class") == "notrun"] == [
        "ConfigureDIRAC"
    ]
    assert "<no route>" not in webcharts.timeline(commands)  # escaped in the markup


def test_a_pilot_without_commands_says_so():
    assert "No command messages" in webcharts.timeline([])


def test_timeline_from_messages_pairs_starts_and_ends():
    events = [
        {"kind": "command", "source": "A", "status": "started", "time": 10.0, "data": None},
        {"kind": "command", "source": "A", "status": "ok", "time": 12.0, "data": {"duration": 2.0}},
        {
            "kind": "command",
            "source": "B",
            "status": "failed",
            "time": 20.0,  # its start was lost
            "data": {"duration": 5.0, "reason": "boom", "failure_type": "node"},
        },
        {"kind": "command", "source": "C", "status": "started", "time": 21.0, "data": None},
        {
            "kind": "result",
            "source": "Pilot",
            "status": "failed",
            "time": 25.0,
            "data": {"pilot": {"exit_code": 3}, "commands": [{"name": "A"}, {"name": "B"}, {"name": "D"}]},
        },
    ]
    commands, result, not_run = webdata.timeline(events, {"last_message_time": 24.0})
    assert [(entry["name"], entry["start"], entry["end"], entry["status"]) for entry in commands] == [
        ("A", 10.0, 12.0, "ok"),
        ("B", 15.0, 20.0, "failed"),
        ("C", 21.0, 25.0, "running"),
    ]
    assert commands[1]["reason"] == "boom" and result["pilot"]["exit_code"] == 3 and not_run == ["D"]


def test_the_statistics_charts():
    states = list(webdata.STATES)
    root = parse(webcharts.stacked_states(FIGURES["groups"], states))
    rects = [rect for rect in root.iter(SVG + "rect") if rect.find(SVG + "title") is not None]
    assert len(rects) == 6  # one segment per (group, state) with pilots
    assert any(rect.find(SVG + "title").text == "<b>site</b>: Failed 10" for rect in rects)

    root = parse(webcharts.durations(FIGURES["commands"]))
    groups = [group for group in root.iter(SVG + "g") if group.get("data-command")]
    assert [group.get("data-command") for group in groups] == ["CheckWorkerNode", "InstallDIRAC"]  # no durations
    widths = dict((rect.get("class"), float(rect.get("width"))) for rect in groups[1].iter(SVG + "rect"))
    assert widths["dur-median"] < widths["dur-p90"] < widths["dur-max"]

    root = parse(webcharts.failures(FIGURES["commands"]))
    titles = [group.find(SVG + "title").text for group in root.iter(SVG + "g") if group.get("data-command")]
    assert titles[1] == ("InstallDIRAC: 10 of 90 failed (11.1%): download failed: timeout (7); <script>x</script> (3)")
    assert len(titles) == 3

    root = parse(webcharts.histogram(FIGURES["db12"]["histogram"], "DB12"))
    assert len([group for group in root.iter(SVG + "g") if group.get("class") == "bin"]) == 5
    parse(webcharts.spread(FIGURES["submit_to_running"], "submission to running"))
    assert "No values" in webcharts.histogram([])
    assert "No pilots" in webcharts.stacked_states([], states)


def test_durations_for_people():
    assert [webcharts.seconds(value) for value in (None, 0.42, 12.5, 200, 7300)] == [
        "-",
        "0.42 s",
        "12.5 s",
        "3 min 20 s",
        "2 h 01 min",
    ]

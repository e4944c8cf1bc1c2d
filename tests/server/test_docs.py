"""The documentation: reference pages generated from the code's one definitions, the README's size and
links, and nothing pointing outside the repository.  (mkdocs build --strict is a step of run-tests.)"""

import os
import re
import subprocess

from pilot_server.worker import exitcodes
from pilot_server.worker.config import options
from pilot_server import docs

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(relative):
    with open(os.path.join(REPO, relative)) as handle:
        return handle.read()


def test_reference_pages_are_current():
    assert docs.main(["--check"] + [os.path.join(REPO, page) for page in docs.PAGES]) == 0


def test_every_generated_block_has_a_reference_page():
    text = "".join(read(page) for page in docs.PAGES)
    for name in docs.GENERATORS:
        assert "<!-- generated:%s -->" % name in text, name


def test_reference_lists_every_option_and_exit_code():
    text = read("docs/reference/options.md")
    for param in options.TABLE:
        if param.long:
            assert "`--%s" % param.long in text, param.long
        if param.short:
            assert "`-%s`" % param.short in text, param.short
    text = read("docs/reference/exit-codes.md")
    for entry in exitcodes.TABLE:
        assert "| %d | %s |" % (entry.code, entry.name) in text


def test_message_reference_has_the_schema_and_its_limits():
    from pilot_server.worker import messages

    text = read("docs/reference/messages.md")
    assert '"schema": "%s"' % messages.SCHEMA in text
    for kind in messages.KINDS + messages.LEVELS + messages.STREAMS + messages.COMMAND_STATUSES:
        assert "`%s`" % kind in text, kind
    assert "at most %d characters" % messages.MAX_TEXT in text


def test_metrics_reference_names_what_get_metrics_exposes():
    from pilot_server.logbook.receive import metrics
    from prometheus_client.exposition import generate_latest

    text = read("docs/reference/metrics.md")
    exposed = generate_latest(metrics.Metrics().registry).decode("utf-8")
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", exposed, re.M))
    assert types
    for name, kind in types.items():
        if name.endswith("_created"):  # prometheus_client's creation time of each counter and histogram
            continue
        shown = name + "_total" if kind == "counter" and not name.endswith("_total") else name
        assert "| `%s` | %s |" % (shown, kind) in text, shown
    for reason in metrics.REFUSALS:
        assert reason in text


def test_check_detects_a_stale_page_and_rewrites_it(tmp_path, capsys):
    stale = tmp_path / "page.md"
    stale.write_text(
        "x\n<!-- generated:options -->\nold\n<!-- /generated:options -->\n"
        "<!-- generated:messages -->\n<!-- /generated:messages -->\n"
    )
    assert docs.main(["--check", str(stale)]) == 1
    assert "out of date: %s" % stale in capsys.readouterr().err
    assert docs.main([str(stale)]) == 0
    assert docs.main(["--check", str(stale)]) == 0
    assert "| `-N` `--Name=` | `ceName` |" in stale.read_text()


def test_bad_pages_fail_in_one_line(tmp_path, capsys):
    plain = tmp_path / "plain.md"
    plain.write_text("no generated block here\n")
    assert docs.main(["--check", str(plain)]) == 1
    assert docs.main(["--check", str(tmp_path / "missing.md")]) == 1
    assert docs.main(["--no-such-option"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("docs: %s: no <!-- generated:NAME --> block" % plain)
    assert err[1] == "docs: %s: No such file or directory" % (tmp_path / "missing.md")
    assert err[2].startswith("usage: ")


def test_readme_is_short_and_its_links_exist():
    text = read("README.md")
    assert len(text.encode("utf-8")) <= 15 * 1024
    for section in (
        "## Set-up: two commands",
        "## Quick start: run a pilot",
        "## Quick start: a SiteDirector",
        "## Quick start: serve the logbook",
        "## Requirements",
        "## Status",
        "## Licence",
    ):
        assert section in text, section
    assert "./run-demo" in text and "./run-tests" in text
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert "docs/index.md" in links
    for link in links:
        assert os.path.exists(os.path.join(REPO, link)), link


def test_nothing_points_outside_the_repository():
    """The design notes and references this project started from are not part of it."""
    # the patterns are split so that this file does not match itself
    outside = re.compile(
        "|".join(
            [
                "[.][.]/" + "shared",
                "/work/" + "shared",
                "DESIGN" + "[.]md",
                "reference" + r"( section| §| \d|:? [a-z-]+[.]md)",
            ]
        )
    )
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for name in files:
        path = os.path.join(REPO, name)
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
        found.extend("%s: %s" % (name, match.group(0)) for match in outside.finditer(text))
    assert not found

"""The documentation's generated tables (options, exit codes, log messages, logbook metrics), from their one
definition.

``python3 -m pilot_server.docs`` (run in the checkout) rewrites the blocks between
``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->`` of the reference pages
(``docs/reference/*.md``), or of the Markdown files given; ``--check`` exits 1 when one
is out of date (a test runs it, and ``mkdocs build`` then publishes the pages).
"""

import json
import re
import sys

from pilot_server.worker import exitcodes, messages
from pilot_server.worker.config import options

PAGES = [
    "docs/reference/options.md",
    "docs/reference/exit-codes.md",
    "docs/reference/messages.md",
    "docs/reference/metrics.md",
]


def _cell(text):
    return str(text).replace("|", "\\|")


def _values(names):
    return ", ".join("`%s`" % name for name in names)


def options_table():
    rows = ["| Option | Parameter | Meaning | Default | From env / pilot.json |", "|---|---|---|---|---|"]
    for group, title in options.GROUPS:
        for param in options.TABLE:
            if param.group != group:
                continue
            forms = []
            if param.short:
                forms.append("`-%s`" % param.short)
            if param.long:
                forms.append("`--%s%s`" % (param.long, "=" if param.takes_value else ""))
            default = param.default
            if isinstance(default, list):
                default = ",".join(default)
            elif isinstance(default, dict):
                default = ""
            elif default is None:
                default = ""
            sources = []
            if param.env:
                sources.append("`$%s`" % param.env)
            if param.json:
                sources.append("`%s`" % param.json)
            meaning = param.help + (" (%s)" % param.note if param.note else "")
            rows.append(
                "| %s | `%s` | %s | %s | %s |"
                % (
                    " ".join(forms) or "(pilot.json only)",
                    param.dest,
                    _cell(meaning),
                    "`%s`" % _cell(default) if default not in ("", 0, False) else "",
                    " ".join(sources),
                )
            )
    return "\n".join(rows)


def exit_codes_table():
    rows = ["| Code | Name | Failure type | Meaning |", "|---|---|---|---|"]
    for entry in exitcodes.TABLE:
        rows.append("| %d | %s | %s | %s |" % (entry.code, entry.name, entry.failure_type or "", _cell(entry.meaning)))
    rows.append(
        "| 128+N | KILLED | killed | stopped by signal N (%s: 143, 130, 138, 152) |"
        % ", ".join(exitcodes.HANDLED_SIGNALS)
    )
    return "\n".join(rows)


def messages_reference():
    """The batch and message fields, with the values and limits that messages.validate_batch enforces."""
    example = messages.batch(
        "0123456789abcdef0123456789abcdef",
        [
            messages.message(
                "0123456789abcdef0123456789abcdef",
                1,
                1763737440.123456,
                "Disk: 81145 MB free",
                source="CheckWorkerNode",
                phase="Checking",
            )
        ],
    )
    name = "a string of 1 to %d characters" % messages.MAX_NAME
    rows = [
        "A batch (one HTTPS POST body, or one STOMP frame body); on the wire it is compact JSON (`messages.encode`):",
        "",
        "```json",
        json.dumps(example, indent=2, sort_keys=True),
        "```",
        "",
        "| Batch field | Value |",
        "|---|---|",
        "| `schema` | `%s` |" % messages.SCHEMA,
        "| `stamp` | the pilot's stamp: %s |" % messages.STAMP_RULE,
        "| `messages` | 1 to %d messages, all with the batch's stamp; at most %d MiB in all |"
        % (messages.MAX_BATCH_MESSAGES, messages.MAX_BATCH_BYTES // (1024 * 1024)),
        "",
        "| Message field | Required | Value |",
        "|---|---|---|",
        "| `stamp` | yes | the batch's stamp |",
        "| `seq` | yes | a whole number from 1 to %d: 1, 2, 3 ... per pilot; `(stamp, seq)` is the message's "
        "identity |" % messages.MAX_SEQ,
        "| `time` | yes | %s, to the microsecond |" % messages.TIME_RULE,
        "| `kind` | yes | one of %s |" % _values(messages.KINDS),
        "| `level` | yes | one of %s |" % _values(messages.LEVELS),
        "| `source` | yes | %s (the command, or `Pilot`) |" % name,
        "| `phase` | no | null or %s |" % name,
        "| `status` | no | null or %s; a `command` message's is one of %s |"
        % (name, _values(messages.COMMAND_STATUSES)),
        "| `stream` | no | null or one of %s (a child's output) |" % _values(messages.STREAMS),
        "| `text` | yes | a string of at most %d characters |" % messages.MAX_TEXT,
        "| `data` | no | null or a JSON object of at most %d bytes, nested at most %d levels; its numbers "
        "finite, its whole numbers within 64 bits; the fields the logbook reads have their own rules "
        "([Types and ranges](../logging-protocol.md#types-and-ranges)) |"
        % (messages.MAX_DATA_BYTES, messages.MAX_DATA_DEPTH),
    ]
    return "\n".join(rows)


def metrics_table():
    """The logbook's Prometheus metrics, from the registry that GET /metrics exposes."""
    from prometheus_client.metrics import MetricWrapperBase

    from pilot_server.logbook.receive import metrics

    registry = metrics.Metrics()
    rows = ["| Metric | Type | Meaning | Labels |", "|---|---|---|---|"]
    for metric in vars(registry).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        family = next(iter(metric.describe()))
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = []
        for label in getattr(metric, "_labelnames", ()):
            values = sorted(
                set(
                    sample.labels[label]
                    for current in metric.collect()
                    for sample in current.samples
                    if label in sample.labels
                )
            )
            labels.append("`%s`%s" % (label, ": " + ", ".join(values) if values else ""))
        rows.append("| `%s` | %s | %s | %s |" % (name, family.type, _cell(family.documentation), "; ".join(labels)))
    return "\n".join(rows)


GENERATORS = {
    "options": options_table,
    "exit-codes": exit_codes_table,
    "messages": messages_reference,
    "metrics": metrics_table,
}


def render(text):
    """Regenerate every generated block of a Markdown text; a text without any is an error."""
    found = False
    for name, generate in GENERATORS.items():
        pattern = re.compile(r"(<!-- generated:%s -->\n).*?(<!-- /generated:%s -->)" % (name, name), re.S)
        if pattern.search(text):
            found = True
            text = pattern.sub(lambda match: match.group(1) + generate() + "\n" + match.group(2), text)
    if not found:
        raise ValueError("no <!-- generated:NAME --> block (names: %s)" % ", ".join(sorted(GENERATORS)))
    return text


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    paths = [arg for arg in argv if arg != "--check"] or PAGES
    if any(path.startswith("-") for path in paths):
        sys.stderr.write("usage: python3 -m pilot_server.docs [--check] [PAGE.md ...]\n")
        return 2
    stale = []
    for path in paths:
        try:
            with open(path) as handle:
                current = handle.read()
            wanted = render(current)
        except (OSError, ValueError) as exc:
            sys.stderr.write("docs: %s: %s\n" % (path, getattr(exc, "strerror", None) or exc))
            return 1
        if wanted == current:
            continue
        if check:
            stale.append(path)
        else:
            with open(path, "w") as handle:
                handle.write(wanted)
    if stale:
        sys.stderr.write("docs: out of date: %s: run python3 -m pilot_server.docs\n" % " ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

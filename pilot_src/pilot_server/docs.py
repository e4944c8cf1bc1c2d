"""The README's generated tables (options, exit codes), from their one definition.

``python3 -m pilot_server.docs README.md`` rewrites the blocks between
``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``;
``--check`` exits 1 when the README is out of date (a test runs it).
"""

import re
import sys

from pilot import exitcodes, options


def _cell(text):
    return str(text).replace("|", "\\|")


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
            rows.append("| %s | `%s` | %s | %s | %s |" % (
                " ".join(forms) or "(pilot.json only)", param.dest, _cell(meaning),
                "`%s`" % _cell(default) if default not in ("", 0, False) else "", " ".join(sources)))
    return "\n".join(rows)


def exit_codes_table():
    rows = ["| Code | Name | Failure type | Meaning |", "|---|---|---|---|"]
    for entry in exitcodes.TABLE:
        rows.append("| %d | %s | %s | %s |" % (entry.code, entry.name, entry.failure_type or "",
                                               _cell(entry.meaning)))
    rows.append("| 128+N | KILLED | killed | stopped by signal N (%s: 143, 130, 138, 152) |"
                % ", ".join(exitcodes.HANDLED_SIGNALS))
    return "\n".join(rows)


GENERATORS = {"options": options_table, "exit-codes": exit_codes_table}


def render(text):
    for name, generate in GENERATORS.items():
        pattern = re.compile(r"(<!-- generated:%s -->\n).*?(<!-- /generated:%s -->)" % (name, name), re.S)
        if not pattern.search(text):
            raise ValueError("no <!-- generated:%s --> block" % name)
        text = pattern.sub(lambda match: match.group(1) + generate() + "\n" + match.group(2), text)
    return text


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    paths = [arg for arg in argv if arg != "--check"]
    if len(paths) != 1:
        sys.stderr.write("usage: python3 -m pilot_server.docs [--check] README.md\n")
        return 2
    with open(paths[0]) as handle:
        current = handle.read()
    try:
        wanted = render(current)
    except ValueError as exc:
        sys.stderr.write("docs: %s: %s\n" % (paths[0], exc))
        return 1
    if check:
        if wanted != current:
            sys.stderr.write("docs: %s is out of date: run python3 -m pilot_server.docs %s\n"
                             % (paths[0], paths[0]))
            return 1
        return 0
    if wanted != current:
        with open(paths[0], "w") as handle:
            handle.write(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())

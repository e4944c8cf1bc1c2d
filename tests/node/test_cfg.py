"""pilot/config/cfg.py: DIRAC's CFG format (pilot.cfg), read, changed and written."""

import os
import re

import pytest

import helpers
from pilot.config.cfg import CFG, CFGError, format_value

SAMPLE = """# written by dirac-configure
DIRAC
{
  Setup = LHCb-Production
  Configuration
  {
    Servers = dips://cs1:9135/Configuration/Server, dips://cs2:9135/Configuration/Server
    Servers += dips://cs3:9135/Configuration/Server
  }
  # a comment inside a section
  Security
  {
    UseServerCertificate = yes
  }
}
LocalSite
{
  Site = LCG.CERN.cern
  Tag = GPU, WholeNode
  Empty =
  Url = https://host:8443/path?x=1&y=2
  BatchSystemInfo {
    Type = SLURM
    Parameters
    {
      Queue = long
    }
  }
  Architecture = Linux_x86_64_glibc-2.17
}
"""


def test_parse_reads_nested_sections_lists_and_appends():
    cfg = CFG.parse(SAMPLE)
    assert cfg.get("/DIRAC/Setup") == "LHCb-Production"
    assert cfg.get("DIRAC/Setup") == "LHCb-Production"  # the leading / is optional
    assert cfg.get_list("/DIRAC/Configuration/Servers") == [
        "dips://cs1:9135/Configuration/Server", "dips://cs2:9135/Configuration/Server",
        "dips://cs3:9135/Configuration/Server"]
    assert cfg.get("/DIRAC/Security/UseServerCertificate") == "yes"
    assert cfg.get_list("/LocalSite/Tag") == ["GPU", "WholeNode"]
    assert cfg.get("/LocalSite/Empty") == ""
    assert cfg.get("/LocalSite/Url") == "https://host:8443/path?x=1&y=2"  # '=' inside a value
    assert cfg.get("/LocalSite/BatchSystemInfo/Type") == "SLURM"          # "Name {" on one line
    assert cfg.get("/LocalSite/BatchSystemInfo/Parameters/Queue") == "long"
    assert cfg.get("/LocalSite/Architecture") == "Linux_x86_64_glibc-2.17"
    assert cfg.get("/LocalSite/Missing") is None
    assert cfg.get("/LocalSite/Missing", "dflt") == "dflt"
    assert cfg.get("/Nowhere/At/All", "x") == "x"
    assert cfg.get("/LocalSite/BatchSystemInfo") is None  # a section is not an option
    assert cfg.get_list("/LocalSite/Missing") == []
    assert cfg.has_section("/LocalSite/BatchSystemInfo/Parameters")
    assert not cfg.has_section("/LocalSite/Site")
    assert not cfg.has_section("/Nope")


def test_options_come_in_file_order():
    cfg = CFG.parse(SAMPLE)
    assert [path for path, _ in cfg.options()] == [
        "/DIRAC/Setup", "/DIRAC/Configuration/Servers", "/DIRAC/Security/UseServerCertificate",
        "/LocalSite/Site", "/LocalSite/Tag", "/LocalSite/Empty", "/LocalSite/Url",
        "/LocalSite/BatchSystemInfo/Type", "/LocalSite/BatchSystemInfo/Parameters/Queue",
        "/LocalSite/Architecture"]


def test_dump_round_trip_keeps_order_and_values():
    cfg = CFG.parse(SAMPLE)
    text = cfg.dump()
    again = CFG.parse(text)
    assert again.options() == cfg.options()
    assert again.dump() == text
    assert "#" not in text  # comments are read, not kept
    # DIRAC's layout: two-space indent, the name and "{" on separate lines
    assert "LocalSite\n{\n  Site = LCG.CERN.cern\n" in text
    assert "  BatchSystemInfo\n  {\n    Type = SLURM\n" in text
    assert text.endswith("}\n")
    assert "Servers = dips://cs1:9135/Configuration/Server, dips://cs2:9135/Configuration/Server, " \
           "dips://cs3:9135/Configuration/Server" in text


def test_mixed_order_of_options_and_sections_survives():
    text = "A = 1\nS\n{\n  X = 1\n}\nB = 2\nT\n{\n}\nC = 3\n"
    cfg = CFG.parse(text)
    assert cfg.dump() == "A = 1\nS\n{\n  X = 1\n}\nB = 2\nT\n{\n}\nC = 3\n"
    assert [name for name, _ in cfg.root.items()] == ["A", "S", "B", "T", "C"]


def test_reopened_section_merges_and_later_value_wins():
    cfg = CFG.parse("S\n{\n  A = 1\n}\nS\n{\n  B = 2\n  A = 3\n}\n")
    assert cfg.get("/S/A") == "3"
    assert cfg.get("/S/B") == "2"
    assert cfg.dump() == "S\n{\n  A = 3\n  B = 2\n}\n"


def test_append_to_missing_option_starts_the_list():
    cfg = CFG.parse("S\n{\n  Tag += GPU\n  Tag += WholeNode\n}\n")
    assert cfg.get("/S/Tag") == "GPU, WholeNode"


def test_comments_and_blank_lines_are_ignored_everywhere():
    cfg = CFG.parse("\n   # top\n\nS\n{\n\n  # x\n  A = 1 # not a comment here\n\n}\n  # end\n")
    assert cfg.options() == [("/S/A", "1 # not a comment here")]  # as diraccfg: only whole lines


def test_bytes_and_non_ascii_values():
    cfg = CFG.parse(u"S\n{\n  Name = caf\u00e9\n}\n".encode("utf-8"))
    assert cfg.get("/S/Name") == u"caf\u00e9"
    assert u"Name = caf\u00e9" in cfg.dump()


def _error(text):
    with pytest.raises(CFGError) as info:
        CFG.parse(text, "pilot.cfg")
    message = str(info.value)
    assert message.startswith("pilot.cfg"), message
    return message


def _line_of(message):
    match = re.search(r"line (\d+)", message)
    assert match is not None, "no line number in %r" % message
    return int(match.group(1))


@pytest.mark.parametrize("text,line,needle", [
    ("A = 1\n}\n", 2, "'}' without a section"),                          # stray }
    ("S\n{\n}\n}\n", 4, "'}' without a section"),
    ("Bad Name = 1\n", 1, "invalid option name 'Bad Name'"),              # bad names
    ("= 1\n", 1, "invalid option name"),
    ("S\n{\n  a/b = 1\n}\n", 3, "invalid option name 'a/b'"),
    ("Bad Name {\n}\n", 1, "invalid section name 'Bad Name'"),
    ("{\n}\n", 1, "invalid section name"),
    ("S\nA = 1\n", 2, "expected '{' after section S"),                   # a name without its brace
    ("A = first part,\n  second part\n", 2, "cannot parse 'second part'"),  # a value spanning lines
    ("S\n{\n  A = one,\n    two\n  B = 2\n}\n", 5, "expected '{' after section two"),
])
def test_bad_input_is_an_error_with_its_line(text, line, needle):
    message = _error(text)
    assert _line_of(message) == line, message
    assert needle in message, message


def test_unclosed_section_is_an_error_with_its_line():
    message = _error("A = 1\nS\n{\n  B = 2\n")
    assert "unclosed" in message
    # where the unclosed section was opened (its name on line 2, its brace on line 3)
    assert _line_of(message) in (2, 3), message
    assert "S" in message.split("pilot.cfg", 1)[1]


def test_name_without_brace_at_the_end_is_an_error_with_its_line():
    message = _error("A = 1\nTrailing\n")
    assert _line_of(message) == 2, message


def test_set_creates_sections_and_keeps_existing_order():
    cfg = CFG.parse("DIRAC\n{\n  Setup = X\n}\n")
    cfg.set("/LocalSite/BatchSystemInfo/Parameters/Queue", "long")
    cfg.set("/DIRAC/Setup", "Y")             # replaced in place
    cfg.set("/DIRAC/Extensions", ["LHCb", "Other"])
    cfg.set("/LocalSite/FillingModeFlag", True)
    cfg.set("/LocalSite/Stop", False)
    cfg.set("/LocalSite/CPUTimeLeft", 1234)
    cfg.set("/LocalSite/Factor", 12.5)
    cfg.set("LocalSite/Padded", "  spaced  ")
    assert cfg.get("/DIRAC/Setup") == "Y"
    assert cfg.get("/DIRAC/Extensions") == "LHCb, Other"
    assert cfg.get("/LocalSite/FillingModeFlag") == "True"
    assert cfg.get("/LocalSite/Stop") == "False"
    assert cfg.get("/LocalSite/CPUTimeLeft") == "1234"
    assert cfg.get("/LocalSite/Factor") == "12.5"
    assert cfg.get("/LocalSite/Padded") == "spaced"
    assert cfg.get("/LocalSite/BatchSystemInfo/Parameters/Queue") == "long"
    assert [path for path, _ in cfg.options()][:2] == ["/DIRAC/Setup", "/DIRAC/Extensions"]
    assert CFG.parse(cfg.dump()).options() == cfg.options()


def test_cannot_set_an_option_where_a_section_is():
    cfg = CFG.parse("LocalSite\n{\n  BatchSystemInfo\n  {\n    Type = PBS\n  }\n}\n")
    with pytest.raises(CFGError) as info:
        cfg.set("/LocalSite/BatchSystemInfo", "x")
    assert "section" in str(info.value)
    assert cfg.get("/LocalSite/BatchSystemInfo/Type") == "PBS"


def test_cannot_make_a_section_where_an_option_is():
    cfg = CFG.parse("LocalSite\n{\n  Site = X\n}\n")
    with pytest.raises(CFGError):
        cfg.set("/LocalSite/Site/Sub", "x")
    assert cfg.get("/LocalSite/Site") == "X"


@pytest.mark.parametrize("path", ["", "/", "//", "/A B/C", "/A/{x}", "/#A/B", "/A=B/C"])
def test_bad_paths(path):
    cfg = CFG()
    with pytest.raises(CFGError):
        cfg.set(path, "x")
    with pytest.raises(CFGError):
        cfg.get(path)


def test_a_value_cannot_span_lines():
    cfg = CFG()
    with pytest.raises(CFGError) as info:
        cfg.set("/A/B", "one\ntwo")
    assert "span" in str(info.value)
    with pytest.raises(CFGError):
        format_value(["ok", "bad\nvalue"])
    assert cfg.options() == []


def test_save_and_load(tmpdir):
    path = str(tmpdir.join("pilot.cfg"))
    cfg = CFG.parse(SAMPLE)
    cfg.set("/LocalSite/CPUTimeLeft", 42)
    cfg.save(path)
    loaded = CFG.load(path)
    assert loaded.options() == cfg.options()
    helpers.write_text(path, helpers.read_text(path) + "}\n")
    with pytest.raises(CFGError) as info:
        CFG.load(path)
    assert path in str(info.value)


def test_save_follows_the_dirac_cfg_symlink(tmpdir):
    """etc/dirac.cfg -> ../pilot.cfg: writing pilot.cfg keeps the link working."""
    work = str(tmpdir)
    path = os.path.join(work, "pilot.cfg")
    CFG.parse("A = 1\n").save(path)
    os.mkdir(os.path.join(work, "etc"))
    os.symlink(os.path.join("..", "pilot.cfg"), os.path.join(work, "etc", "dirac.cfg"))
    cfg = CFG.load(path)
    cfg.set("/B", "2")
    cfg.save(path)
    assert os.path.islink(os.path.join(work, "etc", "dirac.cfg"))
    assert CFG.load(os.path.join(work, "etc", "dirac.cfg")).get("/B") == "2"

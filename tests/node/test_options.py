"""The command line (pilot/config/options.py): DIRAC's getopt semantics, one-line errors."""

import pytest

import helpers
from pilot.config import options
from pilot.errors import UsageError

# A raw value for each kind and what it must become.
SAMPLES = {
    "str": ("some value", u"some value"),
    "int": ("7", 7),
    "list": ("a, b,,c ", [u"a", u"b", u"c"]),
    "append": ("x=1", [u"x=1"]),
    "kv": ("k=v,k2 = v2", {u"k": u"v", u"k2": u"v2"}),
    "envvars": ("A:::1,B_2:::two", {u"A": u"1", u"B_2": u"two"}),
    "bool": ("False", False),
    "ignored": ("anything", None),
}


def _cases():
    cases = []
    for param in options.TABLE:
        if param.short:
            cases.append((param.dest, "short"))
            if param.takes_value:
                cases.append((param.dest, "short-attached"))
        if param.long:
            cases.append((param.dest, "long"))
            if param.takes_value:
                cases.append((param.dest, "long-separate"))
    return cases


def _argv(param, form):
    raw = param.choices[-1] if param.choices else SAMPLES.get(param.kind, (None, None))[0]
    if form == "short":
        return ["-" + param.short] + ([raw] if param.takes_value else [])
    if form == "short-attached":
        return ["-" + param.short + raw]
    if form == "long":
        return ["--" + param.long + ("=" + raw if param.takes_value else "")]
    return ["--" + param.long, raw]


def test_table_is_complete():
    # DIRAC's 48 options plus the Pilots 2.0 ones; every DIRAC short letter is there.
    shorts = "".join(sorted(p.short for p in options.TABLE if p.short))
    for letter in "acdeghklmnorstuxyzCDEFGKMNOPQRSTVWXZ":
        assert letter in shorts, letter
    longs = [p.long for p in options.TABLE if p.long]
    for name in ("gridCEType", "cert", "debug", "extraPackages", "loggerURL", "help", "keepPP", "project",
                 "maxNumberOfProcessors", "name", "option", "release", "section", "tag", "requiredTag", "url",
                 "execute", "CEType", "pilotLogging", "configurationServer", "disk", "commandExtensions",
                 "pilotCFGFile", "Group", "certLocation", "MaxCycles", "PollingTime", "StopOnApplicationFailure",
                 "StopAfterFailedMatches", "Name", "OwnerDN", "pilotProcessors", "Queue", "reference", "setup",
                 "CPUTime", "gateway", "commands", "commandOptions", "wnVO", "pilotUUID", "modules",
                 "userEnvVariables", "pipInstallOptions", "preinstalledEnv", "preinstalledEnvPrefix",
                 "architectureScript", "CVMFS_locations", "installation", "pythonVersion", "defaultsURL"):
        assert name in longs, name
    assert len(longs) == len(set(longs))


@pytest.mark.parametrize("dest,form", _cases())
def test_every_option_parses(dest, form):
    param = options.BY_DEST[dest]
    parsed = options.parse(_argv(param, form))
    if param.kind == "action":
        assert parsed.actions == [dest]
        assert parsed.values == {}
        if param.choices:
            assert parsed.action_values == {dest: param.choices[-1]}
    elif param.kind == "choice":
        assert parsed.values == {dest: param.choices[-1]}
    elif param.kind == "ignored":
        assert parsed.values == {}
        assert len(parsed.warnings) == 1 and "ignored" in parsed.warnings[0]
    elif param.kind == "flag":
        assert parsed.values == {dest: True}
    elif param.kind == "count":
        assert parsed.values == {dest: 1}
    else:
        assert parsed.values == {dest: SAMPLES[param.kind][1]}
        assert parsed.forms[dest] in ("-" + (param.short or "?"), "--" + (param.long or "?"))
    assert parsed.arguments == []


def test_long_options_are_case_sensitive():
    parsed = options.parse(["--name=LCG.Site.org", "--Name=ce.example.org"])
    assert parsed.values["site"] == "LCG.Site.org"
    assert parsed.values["ceName"] == "ce.example.org"


@pytest.mark.parametrize("argv,dest,value", [
    (["--Que=long"], "queueName", "long"),
    (["--pilotUU", "abc"], "pilotUUID", "abc"),
    (["--wn=gridpp"], "wnVO", "gridpp"),
    (["--CVMFS=/a,/b"], "CVMFS_locations", ["/a", "/b"]),
    (["--deb", "--deb"], "debugLevel", 2),
    (["--requiredT=GPU"], "reqtags", ["GPU"]),
    (["--extensions-d=/x"], "extensionsDirs", ["/x"]),
])
def test_long_abbreviations(argv, dest, value):
    assert options.parse(argv).values[dest] == value


def test_ddd_counts_three():
    assert options.parse(["-ddd"]).values["debugLevel"] == 3
    assert options.parse(["-d", "-dd", "--debug"]).values["debugLevel"] == 4


def test_combined_short_flags_and_value():
    parsed = options.parse(["-kcdNce1"])
    assert parsed.values == {"keepPythonPath": True, "useServerCertificate": True, "debugLevel": 1,
                             "ceName": "ce1"}


def test_repeated_tags_and_options_accumulate():
    parsed = options.parse(["-t", "GPU", "--tag=WholeNode", "-t", "MultiProcessor", "--requiredTag", "a",
                            "--requiredTag=b", "-o", "/LocalSite/SharedArea=/x", "--option", "cvmfsOnly",
                            "-o", "/A/B=c=d"])
    assert parsed.values["tags"] == ["GPU", "WholeNode", "MultiProcessor"]
    assert parsed.values["reqtags"] == ["a", "b"]
    assert parsed.values["genericOption"] == ["/LocalSite/SharedArea=/x", "cvmfsOnly", "/A/B=c=d"]


@pytest.mark.parametrize("argv,dest,value", [
    (["-N", "a", "--Name=b"], "ceName", "b"),
    (["-r", "v1,v2", "-r", "v3"], "releaseVersions", ["v3"]),
    (["-X", "A,B", "--commands", "C"], "commands", ["C"]),
    (["-D", "10", "-D", "20"], "minDiskSpace", 20),
    (["-S", "One", "--setup", "Two"], "setup", "Two"),
    (["--StopOnApplicationFailure=no", "--StopOnApplicationFailure=yes"], "stopOnApplicationFailure", True),
])
def test_repeated_options_keep_the_last(argv, dest, value):
    assert options.parse(argv).values[dest] == value


@pytest.mark.parametrize("argv,dest,value", [
    (["-Z", "a=1,b=2", "-Z", "c=3"], "commandOptions", {"c": "3"}),
    (["--userEnvVariables=A:::1", "--userEnvVariables=B:::2"], "userEnvVariables", {"B": "2"}),
])
def test_repeated_dict_options_keep_the_last(argv, dest, value):
    # options.py: "repeated options keep the last value except the accumulating
    # ones (-t, --requiredTag, -o)" (DIRAC's pilot)
    assert options.parse(argv).values[dest] == value


def test_command_options_kv():
    parsed = options.parse(["-Z", "a=1, b = two ,url=http://x/y?p=q"])
    assert parsed.values["commandOptions"] == {"a": "1", "b": "two", "url": "http://x/y?p=q"}


def test_user_env_variables():
    parsed = options.parse(["--userEnvVariables=LHCB_X:::1, PATHLIKE:::/a /b,EMPTY:::"])
    assert parsed.values["userEnvVariables"] == {"LHCB_X": "1", "PATHLIKE": "/a/b", "EMPTY": ""}


def test_ignored_options_warn():
    parsed = options.parse(["-s", "x", "-u", "http://u", "-V", "LHCb", "--pythonVersion=3",
                            "--defaultsURL", "http://d", "-N", "ce"])
    assert parsed.values == {"ceName": "ce"}
    assert len(parsed.warnings) == 5
    joined = "\n".join(parsed.warnings)
    for form in ("-s", "-u", "-V", "--pythonVersion", "--defaultsURL"):
        assert "option %s is ignored" % form in joined


def test_parsing_stops_at_first_non_option_word():
    with pytest.raises(UsageError) as info:
        options.parse(["-N", "ce", "stray", "-Q", "q"])
    assert "stray" in info.value.reason


BAD = [
    (["--bogus"], "unknown option --bogus"),
    (["--bogus=1"], "unknown option --bogus"),
    (["-j"], "unknown option -j"),
    (["-N"], "option -N needs a value"),
    (["--Name"], "option --Name needs a value"),
    (["-D", "abc"], "-D"),
    (["--disk=12MB"], "--disk"),
    (["-M", "-1"], "-M"),
    (["-P", "1.5"], "-P"),
    (["-T", ""], "-T"),
    (["--StopOnApplicationFailure=maybe"], "--StopOnApplicationFailure"),
    (["--pilot=x"], "ambiguous"),
    (["--Poll"], "needs a value"),
    (["--help=yes"], "takes no value"),
    (["positional"], "positional"),
    (["-N", "ce", "extra"], "extra"),
    (["-Z", "novalue"], "key=value"),
    (["--userEnvVariables=NOSEP"], "NAME:::VALUE"),
    (["--userEnvVariables=1BAD:::x"], "1BAD"),
    ([u"--userEnvVariables=CAF\u00c9:::1"], "CAF"),   # not a shell variable name
    (["-D", u"\u00b2"], "-D"),            # a digit for str.isdigit(), not for int()
]


@pytest.mark.parametrize("argv,needle", BAD)
def test_bad_command_lines_are_usage_errors(argv, needle):
    try:
        options.parse(argv)
    except UsageError as exc:
        assert needle in exc.reason
        assert "\n" not in exc.reason
        assert exc.failure_type == "usage"
    else:
        raise AssertionError("%r was accepted" % (argv,))


def test_ambiguous_prefix_names_candidates():
    with pytest.raises(UsageError) as info:
        options.parse(["--pilot=x"])
    for name in ("--pilotCFGFile", "--pilotLogging", "--pilotProcessors", "--pilotUUID"):
        assert name in info.value.reason


@pytest.mark.parametrize("argv", [
    ["--bogus"], ["-N"], ["-D", "abc"], ["-M", "-1"], ["-P", "1.5"], ["--pilot=x"], ["stray"],
    ["-X", "CheckWorkerNode", "stray"], ["-Z", "x"], ["-D", u"\u00b2"],
])
def test_pyz_usage_error_is_one_line_exit_2(run_pilot, workdir, argv):
    rc, out, err = run_pilot(argv, workdir)
    line = helpers.assert_one_line_error(rc, 2, out, err, "error")
    assert line.startswith("pilot: error: ")
    assert out.strip() == ""


def test_pyz_ignored_options_only_warn(run_pilot, workdir):
    rc, out, err = run_pilot(["-V", "LHCb", "--pythonVersion=3", "-s", "x", "-u", "y", "--defaultsURL=z",
                              "-X", "GetPilotVersion", "-r", "v9.0.1"], workdir)
    assert rc == 0, out + err
    warnings = [line for line in out.splitlines() if " WARNING " in line and "is ignored" in line]
    assert len(warnings) == 5, out


def test_pyz_help_and_version(run_pilot, workdir):
    rc, out, err = run_pilot(["--help"], workdir)
    assert rc == 0 and err == ""
    assert "usage: python pilot.pyz [options]" in out
    assert "-N CE, --Name=CE" in out
    assert "[default: 2560]" in out          # -D's default is shown
    assert "Exit codes:" in out and "CONFIG" in out
    for title in ("Where the pilot runs", "Accepted for compatibility"):
        assert title in out
    rc, out, err = run_pilot(["--version"], workdir)
    assert rc == 0 and out.startswith("Pilots 2.0 pilot ")
    import sys
    assert sys.version.split()[0] in out


def _shortest_unique_prefix(name, names):
    for length in range(1, len(name) + 1):
        prefix = name[:length]
        if [other for other in names if other.startswith(prefix)] == [name]:
            return prefix
    return name


@pytest.mark.parametrize("name", options.DIRAC_LONGS)
def test_every_dirac_long_option_keeps_its_shortest_unique_prefix(name):
    """Our own long options never make a DIRAC option's unique prefix ambiguous (--logger=URL)."""
    assert len(options.DIRAC_LONGS) == 48 and len(set(options.DIRAC_LONGS)) == 48
    param = options.BY_DEST[options._BY_FORM["--" + name].dest]
    prefix = _shortest_unique_prefix(name, options.DIRAC_LONGS)
    value = param.choices[-1] if param.choices else SAMPLES.get(param.kind, ("x", None))[0]
    word = "--" + prefix + ("=" + value if param.takes_value else "")
    full = options.parse(["--" + name + ("=" + value if param.takes_value else "")])
    short = options.parse([word])
    assert (short.values, short.actions, short.warnings) == (full.values, full.actions, full.warnings), word
    assert short.values or short.actions or short.warnings, word


def test_logger_prefix_is_loggerurl_and_own_options_still_abbreviate():
    assert options.parse(["--logger=https://l.test/"]).values == {"loggerURL": "https://l.test/"}
    assert options.parse(["--logger", "https://l.test/"]).values == {"loggerURL": "https://l.test/"}
    assert options.parse(["--logger-i=3"]).values == {"loggerTimerInterval": 3}
    with pytest.raises(UsageError) as failure:
        options.parse(["--logger-", "3"])   # not a DIRAC prefix: ours are still told apart
    assert "ambiguous" in failure.value.reason

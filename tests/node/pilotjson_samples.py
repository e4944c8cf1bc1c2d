"""pilot.json documents modelled on what DIRAC's PilotSyncAgent publishes.

OLD_SCHEMA: keyed by Setups; NEW_SCHEMA: the
Operations-shaped one.  Values are strings where DIRAC
publishes strings ("True", "v9.0.3, v9.0.2").  Tests deep-copy them.
"""

import copy

CS1 = "dips://cs1.example.org:9135/Configuration/Server"
CS2 = "dips://cs2.example.org:9135/Configuration/Server"

CES = {
    "ce1.example.org": {"Site": "LCG.Example.org", "GridCEType": "HTCondorCE", "LocalCEType": "Pool",
                        "long": {"LocalCEType": "Pool/Singularity", "MaxRAM": "4096"},
                        "short": {"MaxCPUTime": "100"}},
    "arc.example.org": {"Site": "LCG.Arc.org", "GridCEType": "ARC"},
    "cream.example.org": {"Site": "LCG.Cream.org", "GridCEType": "CREAM", "LocalCEType": "InProcess"},
}

_OLD = {
    "Setups": {
        "LHCb-Production": {
            "Commands": {"HTCondorCE": ["CheckWorkerNode", "GetPilotVersion"],
                         "Defaults": "GetPilotVersion, CheckWorkerNode, InstallDIRAC"},
            "CommandExtensions": "LHCbPilot",
            "ConfigurationServer": "dips://lhcb-conf.cern.ch:9135/Configuration/Server",
            "Version": "v10r2p3, v10r2p2",
            "Project": "LHCb",
            "RemoteLogging": "True",          # never read from the old schema
            "CVMFS_locations": "/cvmfs/old",   # never read from the old schema
        },
        "LHCb-Certification": {
            "Version": "v10r3-pre4",
        },
        "Defaults": {
            "Commands": {"ARC": "CheckWorkerNode", "Defaults": ["GetPilotVersion"]},
            "CommandExtensions": "DefaultPilot",
            "Version": "v9r0",
            "Project": "DIRAC",
            "ConfigurationServer": ["dips://defaults-cs.example.org:9135/Configuration/Server"],
            "NagiosProbes": "probe1, probe2",
            "NagiosPutURL": "https://nagios.example.org/put/",
        },
    },
    "CEs": CES,
    "DefaultSetup": "LHCb-Production",
    "ConfigurationServers": [CS1, CS2],
    "timestamp": "2024-05-01T10:00:00",
}

_NEW = {
    "Defaults": {"Pilot": {
        "Commands": {"HTCondorCE": "CheckWorkerNode", "Defaults": "GetPilotVersion, CheckWorkerNode"},
        "RemoteLogging": "False", "Version": "v8.0.0", "Project": "DIRAC", "PilotLogLevel": "INFO",
        "CheckVersion": "True", "UploadSE": "CERN-DST"}},
    "Production": {"Pilot": {"Version": "v8.0.1", "CommandExtensions": "ProdPilot"}},
    "gridpp": {
        "Defaults": {"Pilot": {"Version": "v9.0.0", "Project": "GridPP"}},
        "Production": {"Pilot": {"Version": "v9.0.1",
                                 "CVMFS_locations": "/cvmfs/gridpp.example.org, /cvmfs/dirac.egi.eu"}},
        "Pilot": {"Version": "v9.0.3, v9.0.2", "RemoteLogging": "True",
                  "RemoteLoggerURL": "https://logbook.example.org/pilots",
                  "RemoteLoggerCEsWhiteList": "ce1.example.org, ce2.example.org",
                  "RemoteLoggerTimerInterval": "30", "RemoteLoggerBufsize": "100",
                  "Commands": {"Defaults": ["CheckWorkerNode"]}},
    },
    "dteam": {"Production": {"Pilot": {"Version": "v9.1.0", "PilotLogLevel": "debug"}}},
    "CEs": CES,
    "DefaultSetup": "Production",
    "ConfigurationServers": CS1 + ", " + CS2,      # a string: must not become characters
    "PreferredURLPatterns": ["*.cern.ch", "*.example.org"],
    "GenericPilotDNs": ["/DC=org/CN=pilot"],
    "timestamp": "2024-05-01T10:00:00",
}


def _without_extensions(node):
    if isinstance(node, dict):
        node.pop("CommandExtensions", None)
        for value in node.values():
            _without_extensions(value)
    return node


def old_schema(extensions=True):
    """The old-schema document; extensions=False drops CommandExtensions (for runs of the pyz)."""
    document = copy.deepcopy(_OLD)
    return document if extensions else _without_extensions(document)


def new_schema(extensions=True):
    document = copy.deepcopy(_NEW)
    return document if extensions else _without_extensions(document)

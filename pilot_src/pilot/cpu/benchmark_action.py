"""``python pilot.pyz --benchmark [full|quick|cached]``: only the DB12 benchmark.

Like DIRAC's dirac-wms-cpu-normalization, but it prints one JSON object on
stdout (the keys of pilot.cpu.db12.measure plus ``copies_source`` and
``python``); progress and warnings go to stderr.  Copies: -P if given,
else the processors found by pilot.node.capabilities.  Nothing is written to the
work directory; a full measurement refreshes the node cache.
"""

import json
import platform

from ..shims import compat
from .. import exitcodes
from . import db12
from ..node import capabilities
from ..logs.logger import PilotLogger, StreamSink


def run_benchmark(parsed, environ, stdout, stderr):
    """Run the benchmark the command line asks for; return the exit code."""
    mode = parsed.action_values.get("benchmark", "cached")
    logger = PilotLogger(debug=bool(parsed.values.get("debugLevel")))
    logger.add_sink(StreamSink(stderr))
    log = logger.source("Benchmark")
    # -P is capped at the processors found, as CheckWNCapabilities does: one copy per processor
    found = capabilities.processors(environ, requested=parsed.values.get("pilotProcessors") or None)
    copies, source = found["count"], found["source"]
    log.info("%d cop%s (%s)" % (copies, "y" if copies == 1 else "ies", source))
    try:
        result = db12.measure(mode, copies, log, cache_dir=parsed.values.get("db12CacheDir") or None,
                              environ=environ)
    except db12.BenchmarkError as exc:
        compat.write_text(stderr, "pilot: error: %s\n" % exc.reason)
        return exitcodes.for_failure_type(exc.failure_type)
    log.info("Estimated CPU power is %.1f HS06" % result["score"])
    result["copies_source"] = source
    result["python"] = "%s %s" % (platform.python_implementation(), platform.python_version())
    compat.write_text(stdout, json.dumps(result, sort_keys=True) + "\n")
    stdout.flush()
    return exitcodes.OK

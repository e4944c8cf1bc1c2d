"""Remote logging, by its former single module's names (for extensions, tests and benchmarks).

The code is in small modules: pilot/logs/logsession.py (start and finish, from the
parameters and credentials), pilot/logs/logsender.py (RemoteLog: the sink and its
background sender), pilot/logs/logspool.py (the on-disk spool), pilot/logs/stdincapture.py
(stdin) and pilot/messages.py (the messages and batches on the wire).  The pilot
itself imports those, never this module.
"""

from .logsender import (BATCH_BYTES, BATCH_MESSAGES, CAPACITY, DEFAULT_INTERVAL, FIRST_RETRY,  # noqa: F401
                                  HUNG_SECONDS, MAX_RETRY, MAX_WARNINGS, OUTAGE_FINAL_TIMEOUT, SLOW_SECONDS,
                                  URGENT_KINDS, RemoteLog)
from .logsession import FINAL_SECONDS, configure, credentials  # noqa: F401
from .logspool import REJECTED_FILE, SPOOL_FILE  # noqa: F401
from ..messages import fit_data  # noqa: F401
from .stdincapture import STDIN_BYTES, STDIN_IDLE, STDIN_SECONDS, capture_stdin, read_stdin  # noqa: F401

"""The service's periodic work: Running pilots gone silent become Lost; retention purges
(pilots, and the rejected batches past ``--retention-rejected``).

``serve`` runs one ``Maintenance`` thread (several receivers may each run one: every step
is a bounded, idempotent transaction).  Each round marks at most ``LOST_ROUNDS`` x 1,000
pilots Lost and purges at most ``PURGE_BATCHES`` x 500 pilots, so a round never holds the
database for long; what is left waits for the next round.
"""

import logging
import threading

from pilot_server.logbook.store import retention as retention_rules
from pilot_server.logbook.store.database import Unavailable

log = logging.getLogger("pilots2.logbook.maintenance")

DEFAULT_INTERVAL = 60.0
LOST_BATCH = 1000
LOST_ROUNDS = 10
PURGE_BATCHES = 20


class Maintenance(object):
    def __init__(self, store, retention, interval=DEFAULT_INTERVAL):
        self.store = store
        self.retention = retention
        self.interval = interval
        self.stopping = threading.Event()
        self.thread = None
        self.rejected_purged = 0

    def run_once(self, now=None):
        """One round; returns (pilots marked Lost, retention.Purged); ``self.rejected_purged``: the
        rejected rows it removed."""
        lost = 0
        for _ in range(LOST_ROUNDS):
            marked = self.store.mark_lost(now, limit=LOST_BATCH)
            lost += marked
            if marked < LOST_BATCH:
                break
        purged = retention_rules.purge(self.store, self.retention, now, max_batches=PURGE_BATCHES)
        self.rejected_purged = retention_rules.purge_rejected(
            self.store, self.retention, now, max_batches=PURGE_BATCHES
        )
        if lost or purged.pilots or self.rejected_purged:
            log.info(
                "maintenance: %d pilot(s) Lost; purged %d pilot(s), %d message(s), %d rejected batch(es)",
                lost,
                purged.pilots,
                purged.messages,
                self.rejected_purged,
            )
        return lost, purged

    def _loop(self):
        while not self.stopping.wait(self.interval):
            try:
                self.run_once()
            except Unavailable as exc:
                log.warning("maintenance skipped, database unavailable: %s", exc)
            except Exception:
                log.exception("maintenance round failed")

    def start(self):
        self.thread = threading.Thread(target=self._loop, name="logbook-maintenance", daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

"""The group commit (receive/groupcommit.py): how batches of concurrent requests make groups."""

import threading
import time

from logbook_support import new_stamp, sqlite_store  # noqa: F401


def test_group_commit_makes_one_group_of_what_arrives_while_a_writer_is_busy(sqlite_store):
    """While one writer is busy, a second one does not start a group of one: the batches that arrive
    meanwhile wait for the first writer and go in together."""
    from logbook_support import make_messages
    from pilot_server.logbook.receive.groupcommit import GroupCommit
    from pilot_server.logbook.receive.metrics import Metrics

    entered, release = threading.Event(), threading.Event()
    sizes = []

    class SlowStore(object):
        def store_batches(self, batches):
            sizes.append(len(batches))
            entered.set()
            release.wait(30)
            return sqlite_store.store_batches(batches)

    writer = GroupCommit(SlowStore(), Metrics(), writers=2, max_group=64)
    stamps = [new_stamp() for _ in range(6)]
    threads = [threading.Thread(target=writer.store_batch, args=(stamp, make_messages(stamp, [1]))) for stamp in stamps]
    threads[0].start()
    assert entered.wait(30)
    for thread in threads[1:]:
        thread.start()
    while len(writer.pending) < 5:
        time.sleep(0.01)
    time.sleep(0.2)  # the second writer had the time to start a group, and must not have
    assert sizes == [1]
    release.set()
    for thread in threads:
        thread.join(30)
    writer.stop()
    assert sizes == [1, 5]
    assert all(sqlite_store.pilot(stamp)["message_count"] == 1 for stamp in stamps)


def test_big_batches_are_written_side_by_side(sqlite_store):
    """Batches whose rows outweigh a transaction do not wait for the busy writer."""
    from logbook_support import make_messages
    from pilot_server.logbook.receive.groupcommit import MIN_GROUP_MESSAGES, GroupCommit
    from pilot_server.logbook.receive.metrics import Metrics

    entered, release = threading.Event(), threading.Event()
    sizes = []

    class SlowStore(object):
        def store_batches(self, batches):
            sizes.append(len(batches))
            if len(sizes) == 1:
                entered.set()
                release.wait(30)
            return sqlite_store.store_batches(batches)

    writer = GroupCommit(SlowStore(), Metrics(), writers=2, max_group=64)
    first, big = new_stamp(), new_stamp()
    threads = [threading.Thread(target=writer.store_batch, args=(first, make_messages(first, [1])))]
    threads[0].start()
    assert entered.wait(30)
    threads.append(
        threading.Thread(target=writer.store_batch, args=(big, make_messages(big, range(1, MIN_GROUP_MESSAGES + 1))))
    )
    threads[1].start()
    threads[1].join(30)  # written by the second writer while the first is still busy
    assert not threads[1].is_alive() and sizes == [1, 1]
    release.set()
    threads[0].join(30)
    writer.stop()
    assert sqlite_store.pilot(big)["message_count"] == MIN_GROUP_MESSAGES

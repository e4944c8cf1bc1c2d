"""Pilot states and their transitions: the one definition (docs/logbook.md, "Pilot states").

DIRAC's statuses plus ``Lost``::

    Submitted -> Waiting -> Running -> Done | Failed
    Submitted | Waiting | Running -> Aborted | Deleted
    Submitted | Waiting -> Done | Failed       (the batch system saw the job end)
    Running -> Lost                            (no message for --lost-after seconds)
    Lost -> Running | Done | Failed | Aborted | Deleted   (late messages, the submitter)

* ``Done``, ``Failed``, ``Aborted`` and ``Deleted`` are final: nothing leaves them,
  with one exception: the pilot's own result decides between Done and Failed when the
  final state came from the batch system (source ``submitter``) and no result was
  recorded yet (a batch system sees an exit code of the wrapper, the pilot knows why).
* ``Lost`` is the logbook's inference, not a fact: a message from the pilot makes it
  ``Running`` again (it was only silent, e.g. its logbook was unreachable), its result
  makes it Done/Failed.  Only the logbook sets Lost (a submitter reporting it: 400).
* Reporting the current state again is not a transition: it changes nothing and is
  not an error (a SiteDirector reports what it sees every cycle).

Sources recorded with each transition (``pilot_states.source``): ``pilot`` (its
messages), ``submitter`` (registration, batch states), ``logbook`` (Lost).
"""

SUBMITTED, WAITING, RUNNING, DONE, FAILED, ABORTED, DELETED, LOST = (
    "Submitted",
    "Waiting",
    "Running",
    "Done",
    "Failed",
    "Aborted",
    "Deleted",
    "Lost",
)
STATES = (SUBMITTED, WAITING, RUNNING, DONE, FAILED, ABORTED, DELETED, LOST)
FINAL = (DONE, FAILED, ABORTED, DELETED)
SUBMITTER_STATES = (SUBMITTED, WAITING, RUNNING, DONE, FAILED, ABORTED, DELETED)

PILOT, SUBMITTER, LOGBOOK = "pilot", "submitter", "logbook"
SOURCES = (PILOT, SUBMITTER, LOGBOOK)

DEFAULT_LOST_AFTER = 900  # seconds without any message before a Running pilot is Lost (3 heartbeats)

ALLOWED = {
    SUBMITTED: (WAITING, RUNNING, DONE, FAILED, ABORTED, DELETED),
    WAITING: (RUNNING, DONE, FAILED, ABORTED, DELETED),
    RUNNING: (DONE, FAILED, ABORTED, DELETED, LOST),
    LOST: (RUNNING, DONE, FAILED, ABORTED, DELETED),
    DONE: (),
    FAILED: (),
    ABORTED: (),
    DELETED: (),
}


class BadState(ValueError):
    """Not a state this actor may report (HTTP 400)."""


class InvalidTransition(ValueError):
    """The transition is not allowed (HTTP 409, CLI exit 1); str() is one line."""


def canonical(name):
    """The state spelled as defined ('running' -> 'Running'), or BadState."""
    if isinstance(name, str):
        for state in STATES:
            if state.lower() == name.strip().lower():
                return state
    raise BadState("unknown state %r: one of %s" % (str(name)[:40], ", ".join(STATES)))


def reportable(name):
    """The state a submitter reports, spelled as defined, or BadState."""
    state = canonical(name)
    if state not in SUBMITTER_STATES:
        raise BadState("%s is decided by the logbook, a submitter cannot report it" % state)
    return state


def check_report(current, new):
    """Whether ``new`` (reported by a submitter) may follow ``current``: True (a change),
    False (the same state: nothing to do), or InvalidTransition."""
    if new == current:
        return False
    if new in ALLOWED[current]:
        return True
    raise InvalidTransition(
        "%s -> %s is not allowed%s" % (current, new, " (%s is final)" % current if current in FINAL else "")
    )


def after_messages(current, result_status=None, result_known=False, current_source=None):
    """The states a batch of pilot messages leads through: [] or [Running], [Done] ... .

    ``result_status``: Done/Failed when the batch holds the pilot's result, else None.
    Late messages never move a final state; a result refines a final Done/Failed that
    the batch system set without a result (see the module doc).
    """
    path = []
    state = current
    if state in (SUBMITTED, WAITING, LOST):
        path.append(RUNNING)
        state = RUNNING
    if result_status is None:
        return path
    if state == RUNNING:
        return path + [result_status]
    if state in (DONE, FAILED) and state != result_status and not result_known and current_source == SUBMITTER:
        return [result_status]
    return path


def effective(status, last_seen, now, lost_after):
    """The state shown on read: a Running pilot not heard of for lost_after seconds is Lost.

    ``last_seen`` is the logbook's clock of the last batch, registration or state change."""
    if status == RUNNING and lost_after and last_seen is not None and last_seen < now - lost_after:
        return LOST
    return status


def status_filter(column, last_seen, state, now, lost_after):
    """A SQL condition on (status, last_seen) for ``state`` as shown on read (Lost included)."""
    from sqlalchemy import and_, or_

    if not lost_after or state not in (RUNNING, LOST):
        return column == state
    cutoff = now - lost_after
    if state == RUNNING:
        return and_(column == RUNNING, last_seen >= cutoff)
    return or_(column == LOST, and_(column == RUNNING, last_seen < cutoff))


def status_expression(column, last_seen, now, lost_after):
    """A SQL expression of the state shown on read (for GROUP BY)."""
    from sqlalchemy import and_, case

    if not lost_after:
        return column
    return case((and_(column == RUNNING, last_seen < now - lost_after), LOST), else_=column)


def empty_counts():
    return dict((state, 0) for state in STATES)

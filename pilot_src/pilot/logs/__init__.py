"""The pilot's log: the local log, and remote logging to the logbook (HTTPS, STOMP, hand-off)."""

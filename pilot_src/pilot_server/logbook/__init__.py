"""The logbook: the server that receives, stores and shows every pilot's log.

One folder per concern; the arrows of imports go downwards only (a module never
imports one from a folder listed above its own):

* ``cli/``     -- the ``pilotctl logbook ...`` subcommands (``cmd_*``), their shared options
                  and the text rendering of messages; nothing else imports from here
* ``web/``     -- the administrators' web page: pages, charts, queries, login sessions
* ``receive/`` -- what comes in: the HTTP(S) front and its JSON API, the RabbitMQ consumer,
                  the checks of a batch (``intake``), who may write or read (``access``)
* ``clients/`` -- what talks to a logbook from outside: the submitter (registrations and
                  batch states) and a small STOMP sender (tests, benchmarks)
* ``store/``   -- the database: engines, schema and migrations, the ``Store`` (ingestion,
                  reads), pilot states, statistics, retention, export, maintenance rounds

The wire contract is ``docs/logging-protocol.md``; the message schema is
``pilot.messages`` (one definition, shared with the pilot).
"""

"""The logbook: the server that receives, stores and shows every pilot's log.

Modules, from the database up:

* ``database``   -- engines from a URL (SQLite by default, PostgreSQL, MariaDB/MySQL), errors
* ``schema``     -- the current tables (SQLAlchemy Core)
* ``migrations`` -- the ordered steps that make and upgrade the schema (``schema_version``)
* ``store``      -- idempotent batch ingestion, rejections, registration, reads
* ``states``     -- the pilot states and their transitions (one definition), Lost
* ``pilotinfo``  -- what a batch tells about its pilot (site, CE, result, DB12, command rows)
* ``submitter``  -- register pilots and report batch states (in-process or over HTTPS)
* ``stats``      -- statistics: states, commands, submission to running, DB12
* ``retention``, ``maintenance``, ``export`` -- retention per VO, the periodic round, archives
* ``api``        -- the JSON reads (administrators) and state reports
* ``intake``     -- the checks a batch passes before it is stored (shared by HTTPS and RabbitMQ)
* ``access``     -- who may write (pilot tokens, X.509 certificates and proxies)
* ``x509identity`` -- the end-entity DN of a verified client chain
* ``httpserver`` -- ``POST /api/v1/logs`` and ``POST /api/v1/pilots`` over HTTPS
* ``consumer``   -- the RabbitMQ consumer (acknowledges only after commit)
* ``stompsend``  -- a small STOMP sender (tests, benchmarks)
* ``render``     -- messages as ``pilot.out`` lines
* ``cmd_*``      -- the ``pilotctl logbook ...`` subcommands

The wire contract is ``docs/logging-protocol.md``; the message schema is
``pilot.messages`` (one definition, shared with the pilot).
"""

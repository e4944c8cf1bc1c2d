"""What talks to a logbook from outside it: the submitter (registrations, batch states; in-process or
over HTTPS) and a small STOMP sender (tests and benchmarks)."""

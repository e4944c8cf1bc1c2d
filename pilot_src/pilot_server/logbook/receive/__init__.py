"""What comes into the logbook: the HTTP(S) front and its JSON API, the RabbitMQ consumer, the
checks every batch passes (intake) and who may write or read (access, X.509 identities, TLS)."""

"""The pilot's parameters: the option table, pilot.json, pilot.cfg, downloads, input limits, credentials."""

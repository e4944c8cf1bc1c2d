"""The logbook's database: engines, schema and migrations, the Store (ingestion and reads), pilot
states, statistics, retention, export and the periodic maintenance round."""

"""The node the pilot runs on: its facts, batch system, limits, platform and the children's environment."""

"""Running the command plan: the toolbox, the runner, child processes, heartbeats, the result file."""

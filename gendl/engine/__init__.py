"""The run engine: what happens after Start.

``runs.RunEngine`` validates a config and queues the run in the ``store`` (SQLite; schema, records,
the permission rule and variant names in ``records``); a ``backend`` (the local ``pool`` of worker
processes) starts one ``worker`` per run, which steps the trainer and writes metrics, samples and
checkpoints (``resume``: rotated, checksummed, read back after a crash) to the store; ``sweep``
launches grids of runs and summarizes them, and ``export`` packs a run into a zip.
"""

"""The run engine: what happens after Start.

``runs.RunEngine`` queues a run in the ``store`` (SQLite, schema and records in ``records``), the
``pool`` starts one ``worker`` process per run, the worker steps the trainer and writes metrics,
samples and checkpoints back to the store; ``sweep`` launches grids of runs and ``export`` packs a
run into a zip.
"""

"""The checkpoints shipped in ``checkpoints/``: their catalogue, their ``manifest.json`` and the
generator sources the explorer pages read (shipped files and finished runs)."""

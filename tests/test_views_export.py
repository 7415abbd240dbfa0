"""Exports for slides: animated GIFs read back with Pillow, result tables read back as CSV."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageSequence

from gendl.errors import ConfigError
from gendl.views.export import GIF_MIN_SIDE, animated_gif, sample_grid_gif, table_csv
from gendl.views.sweep import result_table


def frames_of(gif: bytes) -> list[np.ndarray]:
    with Image.open(io.BytesIO(gif)) as image:
        assert image.format == "GIF" and image.info.get("loop") == 0  # loops for ever
        return [np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(image)]


def test_gif_of_a_latent_strip_has_a_frame_per_image_scaled_up_by_whole_pixels():
    rng = np.random.default_rng(0)
    strip = rng.random((7, 28, 28))  # seven distinct digits in [0, 1]
    frames = frames_of(animated_gif(strip))
    assert len(frames) == 7
    assert frames[0].shape == (GIF_MIN_SIDE, GIF_MIN_SIDE)  # 28 x 10: each pixel a 10 x 10 block
    for frame, image in zip(frames, strip, strict=True):
        expected = np.rint(image * 255).astype(np.uint8)
        # blocks of 10 x 10 equal pixels, each the original pixel (GIF palettes are exact for gray)
        np.testing.assert_array_equal(frame[::10, ::10], expected)


def test_captions_go_below_each_frame():
    strip = np.stack([np.full((28, 28), v) for v in (0.0, 0.5, 1.0)])
    frames = frames_of(animated_gif(strip, ["a", "b", "c"]))
    assert len(frames) == 3 and frames[0].shape == (GIF_MIN_SIDE + 24, GIF_MIN_SIDE)
    assert (frames[0][GIF_MIN_SIDE:] < 128).any()  # dark caption text on the white band
    with pytest.raises(ConfigError, match="captions"):
        animated_gif(strip, ["a"])
    with pytest.raises(ConfigError, match="at least one frame"):
        animated_gif([])


def test_sample_grid_gif_reads_a_runs_grids_in_order_and_skips_missing_files(tmp_path):
    grids = []
    for k, step in enumerate((100, 200, 300)):
        path = tmp_path / f"grid_{step}.png"
        Image.fromarray(np.full((62, 62), 60 * k + 30, np.uint8)).save(path)
        grids.append((step, path))
    grids.insert(1, (150, tmp_path / "deleted.png"))
    frames = frames_of(sample_grid_gif(grids))
    assert len(frames) == 3
    assert [int(f[0, 0]) for f in frames] == [30, 90, 150]  # step order kept, one grid a frame


def test_result_table_csv_parses_back_to_the_shipped_sweep(tmp_path):
    shipped = json.loads(open("checkpoints/sweep_default.json").read())["results"]
    table = result_table(shipped)
    parsed = list(csv.DictReader(io.StringIO(table_csv(table))))
    assert len(parsed) == len(shipped) and list(parsed[0]) == list(table[0])
    by_cell = {(r["model"].lower(), r["length"]): r for r in shipped}
    for row in parsed:
        cell = by_cell[row["model"].lower(), int(row["sequence length"])]
        assert float(row["test accuracy (mean)"]) == cell["test_acc_mean"]
        assert int(row["seeds"]) == cell["n_seeds"]
    assert [r["model"] for r in parsed[:4]] == ["RNN"] * 4  # RNN rows first, by length
    assert [int(r["sequence length"]) for r in parsed[:4]] == sorted(r["length"] for r in shipped)[
        ::2
    ]


def test_csv_leaves_a_missing_value_empty():
    text = table_csv([{"a": 1, "b": None}, {"a": 2}])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ["1", ""], ["2", ""]]

"""Where a command writes its result, checked before any work: a run trained for an hour must not
fail at the end because ``--out`` named a directory, and an export never replaces a file silently;
and the copy of a run's model to where ``--out`` names.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gendl.errors import GendlError


def output_path(out: str | Path, suffix: str, default_name: str, *, replace: bool = False) -> Path:
    """The file to write for ``--out``: ``out`` itself if it ends in ``suffix``, else
    ``out/default_name`` (a directory, existing or to be made).

    Refused with GendlError naming the path: a file that exists (unless ``replace``), a directory
    where the file should go, a non-``suffix`` file where a directory should go, and a parent that
    is a file.
    """
    out = Path(out)
    target = out if out.suffix == suffix and not out.is_dir() else out / default_name
    if out.exists() and not out.is_dir() and target != out:
        raise GendlError(
            f"--out {out}: a file that is not {suffix}; give a {suffix} name or a directory"
        )
    if target.is_dir():
        raise GendlError(f"--out {target}: is a directory; give a {suffix} file name")
    if target.exists() and not replace:
        raise GendlError(f"--out {target}: the file exists; remove it or choose another name")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise GendlError(f"--out {target}: {parent} is a file, not a directory")
            break
    return target


def copy_model(model_path: Path, target: Path, half: bool = False) -> Path:
    """A run's model written to ``target`` (fp16 weights with ``half``), never half-written."""
    if half:  # fp16 storage, half the size; the model still loads and runs as float32
        from gendl.checkpoints import load_checkpoint, save_checkpoint

        checkpoint = load_checkpoint(model_path)
        return save_checkpoint(target, checkpoint.build(), checkpoint.meta, half=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    try:
        shutil.copyfile(model_path, tmp)
        os.replace(tmp, target)  # never a half-copied checkpoint under the real name
    finally:
        tmp.unlink(missing_ok=True)
    return target

"""Checkpoints that carry what rebuilds them: ``{kind, config, state_dict, meta}``.

Files are read with ``torch.load(weights_only=True)``, so loading never runs code from the file. Every way
a file can be wrong (missing, empty, truncated, flipped bytes, not a checkpoint, another kind, another
shape, an old format) raises :class:`CheckpointError` naming the file and the problem.

Every file carries the SHA-256 of its tensors (``"sha256"``): torch's zip format checks no sums, so a
damaged weight would otherwise load silently. Files written before the sum existed still load;
``seal_checkpoint`` adds it to one without touching the weights.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gendl.config import config_from_dict
from gendl.errors import CheckpointError, ConfigError
from gendl.models import MODEL_KINDS

FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    kind: str
    config: Any  # the model's frozen config dataclass
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def build(self) -> nn.Module:
        """The model with these weights, in eval mode, as float32."""
        for name, tensor in self.state_dict.items():
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise CheckpointError(
                    f"{self.path}: weight {name} holds NaN or infinite values "
                    "(the training diverged); retrain it or pick an earlier checkpoint"
                )
        model = MODEL_KINDS[self.kind][1](self.config)
        state = {k: v.float() if v.is_floating_point() else v for k, v in self.state_dict.items()}
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            detail = " ".join(line.strip() for line in first[:3])
            msg = f"{self.path}: weights do not fit {self.kind} model: {detail}"
            raise CheckpointError(msg) from exc
        return model.eval()


def kind_of(model: nn.Module) -> str:
    for kind, (_, cls) in MODEL_KINDS.items():
        if isinstance(model, cls):
            return kind
    raise TypeError(f"no checkpoint kind for {type(model).__name__}")


def state_sha256(state: Any) -> str:
    """SHA-256 of a state: every tensor's name, dtype, shape and bytes in name order; nested dicts,
    lists and plain values (a trainer's optimizer state, step counters) are hashed the same way."""
    digest = hashlib.sha256()
    _hash_into(digest, state)
    return digest.hexdigest()


def _hash_into(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            digest.update(f"{key}|".encode())
            _hash_into(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"[{len(value)}|".encode())
        for item in value:
            _hash_into(digest, item)
    else:
        digest.update(f"{type(value).__name__}:{value!r}|".encode())


def verify_sha256(path: Path, state: Any, expected: Any) -> None:
    """Raise CheckpointError unless ``state`` hashes to ``expected`` (a file without one passes)."""
    if expected is None:
        return
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: state is not a mapping of tensors")
    if state_sha256(state) != expected:
        raise CheckpointError(
            f"{path}: checksum mismatch, the weights are damaged (the file changed after it was "
            "written); restore or retrain it"
        )


def save_checkpoint(
    path: str | Path, model: nn.Module, meta: dict[str, Any] | None = None, *, half: bool = False
) -> Path:
    """Write ``model`` (which has a ``.config``) atomically; ``half`` stores float weights as fp16."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": FORMAT_VERSION,
        "kind": kind_of(model),
        "config": asdict(model.config),
        "state_dict": state,
        "sha256": state_sha256(state),
        "meta": dict(meta or {}),
    }
    return atomic_save(payload, path)


def atomic_save(payload: dict[str, Any], path: Path) -> Path:
    """``torch.save`` to a temporary name, then rename: a crash never leaves a partial ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def seal_checkpoint(path: str | Path) -> bool:
    """Add the checksum to a file written before it existed; returns whether the file changed."""
    path = Path(path)
    load_checkpoint(path)  # refuses a damaged file, and one whose stored sum does not match
    payload = _read(path)
    if payload.get("sha256") is not None:
        return False
    atomic_save({**payload, "sha256": state_sha256(payload["state_dict"])}, path)
    return True


def _read(path: Path) -> Any:
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: file is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, random bytes, pickled code refused by weights_only
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({_why_unreadable(exc)})"
        ) from exc


def _why_unreadable(exc: Exception) -> str:
    """A short reason for torch.load's failure (its own text suggests weights_only=False)."""
    text = str(exc)
    if "PytorchStreamReader" in text or "zip" in text.lower():
        return "truncated or damaged torch file"
    if "GLOBAL" in text or "Unsupported global" in text:
        return (
            "it holds pickled Python objects besides tensors, refused: loading them could run code"
        )
    return "not a torch checkpoint file"


def load_checkpoint(path: str | Path, kind: str | tuple[str, ...] | None = None) -> Checkpoint:
    """Read and check a checkpoint; ``kind`` (one or several) restricts what is accepted."""
    path = Path(path)
    payload = _read(path)
    if not isinstance(payload, dict) or not {"kind", "config", "state_dict"} <= set(payload):
        raise CheckpointError(
            f"{path}: not a gendl checkpoint (old format or bare state_dict: "
            "expected keys kind, config, state_dict)"
        )
    version = payload.get("format", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {repr(version)[:20]} is newer than this gendl reads "
            f"({FORMAT_VERSION}); upgrade gendl"
        )
    found = payload["kind"]
    if not isinstance(found, str) or found not in MODEL_KINDS:
        kind_text = repr(found)[:40]
        raise CheckpointError(f"{path}: unknown kind {kind_text}; known: {', '.join(MODEL_KINDS)}")
    wanted = (kind,) if isinstance(kind, str) else kind
    if wanted is not None and found not in wanted:
        raise CheckpointError(f"{path}: holds a {found} model, expected {' or '.join(wanted)}")
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: state_dict is not a mapping of tensors")
    verify_sha256(path, state, payload.get("sha256"))
    try:
        config = config_from_dict(MODEL_KINDS[found][0], payload["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: bad config: {exc}") from exc
    meta = payload.get("meta") or {}
    return Checkpoint(found, config, state, meta if isinstance(meta, dict) else {}, path)


def load_model(path: str | Path, kind: str | tuple[str, ...] | None = None) -> nn.Module:
    """Shortcut: the rebuilt model (eval mode) from a checkpoint file."""
    return load_checkpoint(path, kind).build()

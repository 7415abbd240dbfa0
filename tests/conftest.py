import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
    # `gendl train` run in-process flushes denormals for its process; later tests (hypothesis
    # among them) need IEEE floats back
    torch.set_flush_denormal(False)

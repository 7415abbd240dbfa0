"""The device field: auto picks the CPU here, a GPU that is not there is refused when the config is
built, and checkpoints never tie a run to the device it trained on. Tests marked ``cuda`` need a
GPU and say so when skipped."""

import io
import zipfile

import pytest
import torch

from gendl.checkpoints import load_checkpoint, save_checkpoint
from gendl.cli import main
from gendl.device import DEVICE_PATTERN, check_device, device_name, resolve_device, run_bound
from gendl.engine.resume import resume_trainer
from gendl.errors import ConfigError
from gendl.train import FAMILIES, build_config, make_trainer
from gendl.train.common import run_trainer, scalars

HAS_CUDA = torch.cuda.is_available()
_no_gpu = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (torch sees none)")


def needs_cuda(test):
    return pytest.mark.cuda(_no_gpu(test))


cpu_only = pytest.mark.skipif(HAS_CUDA, reason="checks the refusal on a machine without CUDA")
SMALL = {
    "sequence": {"seq_length": 6, "batch_size": 16, "eval_batch": 64, "eval_every": 2},
    "gan": {"batch_size": 8, "n_score_samples": 0, "data": "fake", "eval_every": 2},
    "vae": {"batch_size": 8, "n_score_samples": 0, "data": "fake", "eval_every": 2},
    "classifier": {"batch_size": 8, "data": "fake", "eval_every": 2},
}


@cpu_only
def test_auto_is_the_cpu_without_cuda():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert device_name("cpu").startswith("cpu (")


@needs_cuda
def test_auto_is_the_first_gpu_with_cuda():
    assert resolve_device("auto").type == "cuda"
    assert "(" in device_name(resolve_device("cuda:0"))


@cpu_only
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_every_config_refuses_cuda_without_a_gpu(family, device):
    with pytest.raises(ConfigError, match=f"device '{device}': CUDA is not available"):
        build_config(family, {"device": device})
    assert build_config(family, {"device": "cpu"}).device == "cpu"
    assert build_config(family).device == "auto"


@pytest.mark.parametrize(
    "value", ["gpu", "CPU", "cuda:", "cuda:-1", "cuda:x", "cuda0", "", 0, None]
)
def test_a_device_that_is_not_a_name_is_refused(value):
    with pytest.raises(ConfigError, match="device must be one of auto, cpu"):
        check_device(value)


def test_the_pattern_accepts_the_documented_names():
    for name in ("auto", "cpu", "cuda", "cuda:0", "cuda:7", "cuda:15"):
        assert DEVICE_PATTERN.fullmatch(name)


def test_cuda_n_names_a_gpu_that_exists(monkeypatch):
    # a machine with two GPUs: cuda:1 is one of them, cuda:2 is not
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_device("cuda:1")
    with pytest.raises(ConfigError, match=r"has 2 CUDA device\(s\), cuda:0 to cuda:1"):
        check_device("cuda:2")
    monkeypatch.setenv("GENDL_GPU_RUNS", "3")
    assert run_bound(2) == 6  # three runs on each of the two GPUs
    assert run_bound(8) == 8


@cpu_only
def test_the_engine_bound_is_unchanged_without_a_gpu(monkeypatch):
    monkeypatch.setenv("GENDL_GPU_RUNS", "7")
    assert run_bound(2) == 2


@cpu_only
def test_the_cli_refuses_cuda_with_a_message_not_a_traceback(tmp_path, capsys):
    code = main(["train", "vae", "--device", "cuda", "--runs-dir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "CUDA is not available" in err and "Traceback" not in err


def test_scalars_reads_tensors_out_as_item_would():
    metrics = {"loss": torch.tensor(0.1234567), "acc": torch.tensor(0.5), "step": 3, "n": [1]}
    out = scalars(metrics)
    assert out == {"loss": torch.tensor(0.1234567).item(), "acc": 0.5, "step": 3, "n": [1]}
    assert all(type(out[k]) is float for k in ("loss", "acc"))


def _as_if_saved_on_cuda(path):
    """Rewrite a torch file so its storages say ``cuda:0``, as a file saved on a GPU does."""
    with zipfile.ZipFile(path) as src:
        entries = {info.filename: src.read(info) for info in src.infolist()}
    pkl = next(name for name in entries if name.endswith("data.pkl"))
    cpu, cuda = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
    assert cpu in entries[pkl]
    entries[pkl] = entries[pkl].replace(cpu, cuda)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as dst:
        for name, data in entries.items():
            dst.writestr(name, data)
    path.write_bytes(buffer.getvalue())


@cpu_only
def test_a_model_saved_on_a_gpu_loads_and_samples_on_the_cpu(tmp_path):
    trainer = make_trainer("vae", {**SMALL["vae"], "max_steps": 2})
    run_trainer(trainer)
    path = save_checkpoint(tmp_path / "vae.pt", trainer.export_model())
    _as_if_saved_on_cuda(path)
    with pytest.raises(RuntimeError, match="CUDA"):  # what a plain torch.load does with it
        torch.load(path, weights_only=True)
    model = load_checkpoint(path, kind="vae").build()
    reference = trainer.export_model().eval()
    z = torch.randn(4, model.config.latent_dim)
    torch.testing.assert_close(model.decode(z), reference.decode(z))


@cpu_only
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_trainer_state_saved_on_a_gpu_resumes_on_the_cpu(family, tmp_path):
    trainer = make_trainer(family, {**SMALL[family], "max_steps": 4})
    for _ in range(2):
        trainer.step()
    state = trainer.state_dict()
    for name in trainer.stateful:  # a GPU's generators hold a 16-byte Philox state
        if isinstance(getattr(trainer, name), torch.Generator):
            state[name] = torch.zeros(16, dtype=torch.uint8)
    path = tmp_path / "checkpoint.pt"
    torch.save({"trainer": state, "elapsed_s": 1.5}, path)
    _as_if_saved_on_cuda(path)
    resumed = resume_trainer(tmp_path, family, {**SMALL[family], "max_steps": 4})
    assert (resumed.source, resumed.elapsed_s) == ("checkpoint.pt", 1.5)
    assert resumed.trainer.step_count == 2
    history = run_trainer(resumed.trainer)
    assert [row["step"] for row in history] == [3, 4]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_trainer_checkpoints_hold_only_cpu_tensors(family):
    device = "cuda" if HAS_CUDA else "cpu"
    trainer = make_trainer(family, {**SMALL[family], "max_steps": 2, "device": device})
    run_trainer(trainer)
    tensors = []

    def walk(obj):
        if isinstance(obj, torch.Tensor):
            tensors.append(obj)
        elif isinstance(obj, dict):
            for value in obj.values():
                walk(value)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                walk(value)

    walk(trainer.state_dict())
    assert tensors and all(t.device.type == "cpu" for t in tensors)


@needs_cuda
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_trains_on_the_gpu_and_resumes_on_the_cpu(family, tmp_path):
    trainer = make_trainer(family, {**SMALL[family], "max_steps": 4, "device": "cuda"})
    assert next(trainer.model.parameters()).is_cuda
    history = run_trainer(trainer)
    assert all(isinstance(row[k], float) for row in history for k in row if k.endswith("loss"))
    path = tmp_path / "checkpoint.pt"
    torch.save({"trainer": trainer.state_dict(), "elapsed_s": 0.0}, path)
    resumed = resume_trainer(tmp_path, family, {**SMALL[family], "max_steps": 6, "device": "cpu"})
    assert [row["step"] for row in run_trainer(resumed.trainer)] == [5, 6]


@needs_cuda
@pytest.mark.parametrize("loop", ["graph", "compile"])
def test_the_cuda_time_loops_match_the_python_loop(loop):
    from gendl.models.lstm_bptt import lstm_sequence

    x = torch.randn(16, 9, 10, device="cuda")
    weight = torch.randn(8 + 10 + 1, 32, device="cuda") * 0.3
    results = []
    for name in ("python", loop, loop):  # twice: the second call replays or reuses
        xr, wr = x.clone().requires_grad_(True), weight.clone().requires_grad_(True)
        h = lstm_sequence(xr, wr, loop=name)
        h.square().sum().backward()
        results.append((h.detach(), xr.grad, wr.grad))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_the_cuda_time_loops_refuse_cpu_tensors():
    from gendl.models.lstm_bptt import lstm_sequence

    with pytest.raises(ValueError, match="CUDA tensors only"):
        lstm_sequence(torch.zeros(2, 3, 1), torch.zeros(4 + 1 + 1, 16), loop="graph")

"""Sequence models against independent references: torch.nn.LSTM / nn.RNN with copied weights,
autograd gradcheck of the hand-written BPTT, the gate identities, and a few training steps."""

import shutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gendl.data import palindrome_batch
from gendl.errors import ConfigError
from gendl.models import lstm_bptt
from gendl.models.lstm_bptt import LSTMKernelSequence, LSTMSequence
from gendl.models.sequence import (
    LSTM,
    SequenceClassifier,
    SequenceConfig,
    VanillaRNN,
)

TOL = {"atol": 1e-5, "rtol": 1e-5}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny tensors: a second thread only adds barrier waits, which stall when the cores are shared
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


def _torch_lstm_pair(D, H, C, dtype=torch.float32, **kwargs):
    ref = nn.LSTM(D, H, batch_first=True).to(dtype)
    head = nn.Linear(H, C).to(dtype)
    ours = LSTM(D, H, C, **kwargs).to(dtype)
    ours.load_torch_weights(ref)
    ours.head.load_state_dict(head.state_dict())
    return ref, head, ours


@pytest.fixture(params=["kernel", "python"])
def time_loop(request, monkeypatch):
    """Run a test once through the C++ time loop and once through its Python twin."""
    if request.param == "python":
        monkeypatch.setattr(lstm_bptt, "kernel", lambda: None)
    elif lstm_bptt.kernel() is None:
        pytest.skip("no C++ compiler: the LSTM kernel cannot be built here")
    return request.param


def test_the_kernel_is_built_wherever_a_compiler_is():
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler on this machine")
    assert lstm_bptt.kernel() is not None


@pytest.mark.parametrize("D", [1, 10])
def test_fast_lstm_matches_torch_lstm_outputs_and_gradients(D, time_loop):
    B, T, H, C = 16, 9, 32, 10
    ref, head, ours = _torch_lstm_pair(D, H, C)
    x = torch.randn(B, T, D)
    y = torch.randint(0, C, (B,))
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    loss_ref = F.cross_entropy(head(ref(x_ref)[0][:, -1]), y)
    loss_ours = F.cross_entropy(ours(x_ours), y)
    torch.testing.assert_close(loss_ours, loss_ref, **TOL)
    loss_ref.backward()
    loss_ours.backward()
    grad_h, grad_x, grad_b = ours.weight.grad.split([H, D, 1])
    torch.testing.assert_close(grad_h, ref.weight_hh_l0.grad.t(), **TOL)
    torch.testing.assert_close(grad_x, ref.weight_ih_l0.grad.t(), **TOL)
    torch.testing.assert_close(grad_b[0], ref.bias_ih_l0.grad, **TOL)
    torch.testing.assert_close(ours.head.weight.grad, head.weight.grad, **TOL)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, **TOL)


@pytest.mark.parametrize("T", [1, 4])
def test_fused_lstm_function_passes_gradcheck(T):
    B, D, H = 3, 2, 3
    x = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(H + D + 1, 4 * H, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LSTMSequence.apply, (x, weight))


@pytest.mark.parametrize(
    "T, init, scale",
    [(1, "default", 1.0), (19, "default", 1.0), (19, "randn", 1.0), (2, "randn", 30.0)],
)
def test_kernel_matches_reference_equations_in_float32(T, init, scale):
    """Against the literal equations in float64. Seed 000's randn init saturates the gates (its
    gradients reach ~40, so float32 is held to 2e-5 of the largest); scaled by 30 the
    pre-activations reach +-200 (over two steps only: that far out, float32 rounding grows
    chaotically along the sequence)."""
    if lstm_bptt.kernel() is None:
        pytest.skip("no C++ compiler: the LSTM kernel cannot be built here")
    torch.manual_seed(T)
    model = LSTM(10, 24, 10, init=init, forget_bias=1.0)
    with torch.no_grad():
        model.weight.mul_(scale)
    exact = LSTM(10, 24, 10).double()
    exact.load_state_dict(model.state_dict())
    x = torch.rand(6, T, 10)
    fast_x, ref_x = x.clone().requires_grad_(), x.double().requires_grad_()
    fast = model.head(LSTMKernelSequence.apply(fast_x, model.weight))
    ref = exact.forward_reference(ref_x)
    g_out = torch.randn_like(ref)
    grads_fast = torch.autograd.grad(fast, [fast_x, model.weight], g_out.float())
    grads_ref = torch.autograd.grad(ref, [ref_x, exact.weight], g_out)
    for a, b in zip((fast, *grads_fast), (ref, *grads_ref), strict=True):
        torch.testing.assert_close(a.double(), b, atol=2e-5 * b.abs().max().item(), rtol=1e-5)


def test_kernel_splits_the_batch_across_threads_with_the_same_result():
    """Two threads each run the sequence on their rows (37 = 19 + 18); the Python loop is the
    reference."""
    if lstm_bptt.kernel() is None:
        pytest.skip("no C++ compiler: the LSTM kernel cannot be built here")
    torch.manual_seed(3)
    x = torch.randn(37, 7, 10, requires_grad=True)
    weight = torch.randn(32 + 10 + 1, 128, requires_grad=True)
    torch.set_num_threads(2)
    try:
        out = LSTMKernelSequence.apply(x, weight)
        grads = torch.autograd.grad(out.square().sum(), [x, weight])
    finally:
        torch.set_num_threads(1)
    ref = LSTMSequence.apply(x, weight)
    ref_grads = torch.autograd.grad(ref.square().sum(), [x, weight])
    torch.testing.assert_close(out, ref, **TOL)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("where", ["weight", "input"])
def test_a_nan_reaches_the_output_through_either_time_loop(where, time_loop):
    model = LSTM(10, 8, 10)
    x, _ = palindrome_batch(6, 4, encoding="onehot")
    with torch.no_grad():
        if where == "weight":
            model.weight[3, 5] = float("nan")
        else:
            x[1, 2, 0] = float("nan")
        assert model(x).isnan().any()


@pytest.mark.parametrize("init, forget_bias", [("default", 0.0), ("default", 3.0), ("randn", 0.0)])
def test_fast_path_matches_reference_equations(init, forget_bias):
    torch.manual_seed(1)
    model = LSTM(10, 24, 10, init=init, forget_bias=forget_bias).double()
    x, _ = palindrome_batch(12, 8, encoding="onehot")
    x = x.double()
    fast_x, ref_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    fast, ref = model(fast_x), model.forward_reference(ref_x)
    torch.testing.assert_close(fast, ref, atol=1e-10, rtol=1e-10)
    g_out = torch.randn_like(fast)
    grads_fast = torch.autograd.grad(fast, [fast_x, model.weight], g_out)
    grads_ref = torch.autograd.grad(ref, [ref_x, model.weight], g_out)
    for a, b in zip(grads_fast, grads_ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_forget_bias_is_added_to_the_forget_gate_only():
    torch.manual_seed(0)
    plain = LSTM(1, 8, 10).weight.detach()[-1]
    torch.manual_seed(0)
    biased = LSTM(1, 8, 10, forget_bias=3.0).weight.detach()[-1]
    torch.testing.assert_close(biased - plain, torch.tensor([0.0] * 8 + [3.0] * 8 + [0.0] * 16))


def test_torch_backend_equations_match_its_own_forward():
    model = LSTM(10, 16, 10, backend="torch", init="randn", forget_bias=1.0)
    x, _ = palindrome_batch(8, 5, encoding="onehot")
    with torch.no_grad():
        torch.testing.assert_close(model.forward_reference(x), model(x), **TOL)
        h = model.gates(x)["h"]
        torch.testing.assert_close(h, model.rnn(x)[0], **TOL)


@pytest.mark.parametrize("backend", ["scratch", "torch"])
def test_vanilla_rnn_matches_torch_rnn(backend):
    B, T, D, H, C = 8, 11, 10, 20, 10
    ref = nn.RNN(D, H, nonlinearity="tanh", batch_first=True)
    head = nn.Linear(H, C)
    ours = VanillaRNN(D, H, C, backend=backend)
    ours.load_torch_weights(ref)
    ours.head.load_state_dict(head.state_dict())
    x = torch.randn(B, T, D)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, out_ours = head(ref(x_ref)[0][:, -1]), ours(x_ours)
    torch.testing.assert_close(out_ours, out_ref, **TOL)
    g_out = torch.randn_like(out_ref)
    out_ref.backward(g_out)
    out_ours.backward(g_out)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, **TOL)
    if backend == "scratch":
        torch.testing.assert_close(ours.W_hh.grad, ref.weight_hh_l0.grad.t(), **TOL)
        torch.testing.assert_close(ours.W_hx.grad, ref.weight_ih_l0.grad.t(), **TOL)
        torch.testing.assert_close(ours.b_h.grad, ref.bias_hh_l0.grad, **TOL)


def test_gates_have_shapes_ranges_and_satisfy_the_cell_equations():
    model = SequenceClassifier(SequenceConfig(hidden_dim=16, forget_bias=3.0))
    x, _ = palindrome_batch(10, 6, encoding="onehot")
    gates = model.gates(x)
    assert set(gates) == {"g", "i", "f", "o", "c", "h"}
    for value in gates.values():
        assert value.shape == (6, 9, 16)
    for name in "ifo":
        assert ((gates[name] > 0) & (gates[name] < 1)).all()
    g, i, f, o, c, h = (gates[k] for k in "gifoch")
    c_prev = torch.cat([torch.zeros_like(c[:, :1]), c[:, :-1]], dim=1)
    torch.testing.assert_close(c, g * i + c_prev * f)
    torch.testing.assert_close(h, torch.tanh(c) * o)
    with torch.no_grad():  # the logits come from the last hidden state
        torch.testing.assert_close(model(x), model.net.head(h[:, -1]), **TOL)


def test_rnn_gates_are_its_hidden_states():
    model = SequenceClassifier(SequenceConfig(model="rnn", encoding="scalar", hidden_dim=8))
    x, _ = palindrome_batch(6, 4, encoding="scalar")
    assert list(model.gates(x)) == ["h"]
    assert model.gates(x)["h"].shape == (4, 5, 8)


@pytest.mark.parametrize(
    "field, value",
    [
        ("hidden_dim", 0),
        ("hidden_dim", 4096),
        ("model", "gru"),
        ("backend", "cuda"),
        ("encoding", "bytes"),
        ("init", "xavier"),
        ("forget_bias", 100.0),
        ("n_classes", 1),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        SequenceConfig(**{field: value})


def test_config_input_dim_follows_the_encoding():
    assert SequenceConfig(encoding="scalar").input_dim == 1
    assert SequenceConfig(encoding="onehot").input_dim == 10


def test_classifier_accepts_scalar_sequences_and_rejects_wrong_shapes():
    model = SequenceClassifier(SequenceConfig(encoding="scalar", hidden_dim=8))
    x, _ = palindrome_batch(7, 3, encoding="scalar")
    assert model(x).shape == (3, 10)
    torch.testing.assert_close(model(x), model(x.unsqueeze(-1)))
    with pytest.raises(ValueError, match=r"\(B, T, 1\)"):
        model(torch.zeros(3, 6, 10))


@pytest.mark.parametrize("model_name", ["rnn", "lstm"])
@pytest.mark.parametrize("backend", ["scratch", "torch"])
def test_a_few_adam_steps_reduce_the_loss(model_name, backend):
    torch.manual_seed(0)
    config = SequenceConfig(model=model_name, backend=backend, hidden_dim=32, forget_bias=3.0)
    model = SequenceClassifier(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    x_eval, y_eval = palindrome_batch(5, 512, generator=g, encoding="onehot")

    def eval_loss() -> float:
        with torch.no_grad():
            return F.cross_entropy(model(x_eval), y_eval).item()

    before = eval_loss()
    for _ in range(60):
        x, y = palindrome_batch(5, 64, generator=g, encoding="onehot")
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert eval_loss() < 0.8 * before


@pytest.mark.parametrize("model_name", ["rnn", "lstm"])
@pytest.mark.parametrize("backend", ["scratch", "torch"])
def test_input_gradient_norms_have_one_value_per_step(model_name, backend):
    model = SequenceClassifier(SequenceConfig(model=model_name, backend=backend, hidden_dim=16))
    x, y = palindrome_batch(8, 5, encoding="onehot")
    norms = model.input_gradient_norms(x, y)
    assert norms.shape == (7,)
    assert (norms >= 0).all() and norms[-1] > 0
    assert all(p.grad is None for p in model.parameters())  # only the input gradient is taken


def test_scratch_lstm_input_gradients_match_the_reference():
    model = SequenceClassifier(SequenceConfig(hidden_dim=16, init="randn"))
    x, y = palindrome_batch(10, 6, encoding="onehot")
    x_ref = x.clone().requires_grad_()
    F.cross_entropy(model.net.forward_reference(x_ref), y).backward()
    torch.testing.assert_close(model.input_gradient_norms(x, y), x_ref.grad.norm(dim=(0, 2)))


def _first_and_last_input_gradients(init: str) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = SequenceClassifier(SequenceConfig(model="rnn", encoding="onehot", init=init))
    x, y = palindrome_batch(41, 64, encoding="onehot")  # 40 input steps
    norms = model.input_gradient_norms(x, y)
    assert norms.shape == (40,)
    return norms[:10], norms[-3:]


def test_rnn_input_gradients_vanish_over_forty_steps():
    first, last = _first_and_last_input_gradients("default")
    assert first.max() < 1e-3 * last.min()


def test_randn_rnn_input_gradients_explode_instead():
    # seed 000's torch.randn W_hh (H=128) has spectral radius ~11: why the seeds clip gradients
    first, last = _first_and_last_input_gradients("randn")
    assert first.min() > 1e3 * last.max()

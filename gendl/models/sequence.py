"""RNN and LSTM for the palindrome task (seed 000), hand-written ("scratch") or from torch.nn.

``LSTM.forward_reference`` is seed 000's gate equations under autograd, line for line; the scratch
training path is ``lstm_sequence`` (lstm_bptt.py), the same maths with a hand-written BPTT (a C++
time loop, or its Python twin where no compiler is at hand). ``gates(x)`` returns g, i, f, o, c, h
over time for plots, and ``SequenceClassifier.input_gradient_norms`` the per-step input gradient
(vanishing gradients).
Speed against torch.nn.LSTM and seed 000's loop: ``python bench/lstm_speed.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gendl.config import Field, check_choice, check_int
from gendl.data import sequence_input_dim
from gendl.models.lstm_bptt import lstm_sequence

SEQUENCE_MODELS = ("rnn", "lstm")
BACKENDS = ("scratch", "torch")
INITS = ("default", "randn")
GATES = ("g", "i", "f", "o", "c", "h")
HIDDEN_DIM = Field(
    "hidden_dim", "hidden size", "int", 1, 2048, 8, help="units in the recurrent state"
)
FORGET_BIAS = Field(
    "forget_bias",
    "forget-gate bias at start",
    "float",
    -10.0,
    10.0,
    0.5,
    help="added to the LSTM's forget gate at initialisation: a high value lets the cell state "
    "carry information across the whole sequence from the first step; the RNN has no such gate",
    advanced=True,
)


@dataclass(frozen=True)
class SequenceConfig:
    model: str = "lstm"
    backend: str = "scratch"  # "torch": torch.nn.LSTM / torch.nn.RNN(tanh)
    encoding: str = "onehot"
    hidden_dim: int = 128  # seed 000
    n_classes: int = 10
    init: str = "default"  # uniform(+-1/sqrt(H)) as torch.nn.LSTM; "randn": seed 000's torch.randn
    forget_bias: float = 0.0  # added to the LSTM forget-gate bias at init; the RNN has no such gate

    def __post_init__(self) -> None:
        check_choice("model", self.model, SEQUENCE_MODELS)
        check_choice("backend", self.backend, BACKENDS)
        check_choice("encoding", self.encoding, ("scalar", "onehot"))
        HIDDEN_DIM.check(self.hidden_dim)
        check_int("n_classes", self.n_classes, 2, 1000)
        check_choice("init", self.init, INITS)
        FORGET_BIAS.check(self.forget_bias)

    @property
    def input_dim(self) -> int:
        return sequence_input_dim(self.encoding)


def _init_(params: list[torch.Tensor], init: str, hidden_dim: int) -> None:
    with torch.no_grad():
        for p in params:
            if init == "randn":
                p.normal_()
            else:
                bound = 1.0 / math.sqrt(hidden_dim)
                p.uniform_(-bound, bound)


def _make_head(hidden_dim: int, n_classes: int, init: str, randn_bias: bool) -> nn.Linear:
    head = nn.Linear(hidden_dim, n_classes)  # p = W_ph h + b_p
    if init == "randn":  # seed 000: W_ph randn; b_p randn in its LSTM, zero in its RNN
        _init_([head.weight, head.bias] if randn_bias else [head.weight], "randn", hidden_dim)
        if not randn_bias:
            nn.init.zeros_(head.bias)
    return head


class VanillaRNN(nn.Module):
    """h_t = tanh(x_t W_hx + h_{t-1} W_hh + b_h), p = h_T W_ph + b_p; x (B, T, D) -> (B, C)."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        n_classes: int,
        *,
        backend: str = "scratch",
        init: str = "default",
    ) -> None:
        super().__init__()
        self.backend, self.hidden_dim = backend, hidden_dim
        if backend == "torch":
            self.rnn = nn.RNN(input_dim, hidden_dim, nonlinearity="tanh", batch_first=True)
            params = [self.rnn.weight_ih_l0, self.rnn.weight_hh_l0]
            if init == "randn":  # seed 000: randn weights, zero biases
                _init_(params, "randn", hidden_dim)
                nn.init.zeros_(self.rnn.bias_ih_l0)
                nn.init.zeros_(self.rnn.bias_hh_l0)
        else:
            self.W_hx = nn.Parameter(torch.empty(input_dim, hidden_dim))
            self.W_hh = nn.Parameter(torch.empty(hidden_dim, hidden_dim))
            self.b_h = nn.Parameter(torch.empty(hidden_dim))
            _init_([self.W_hx, self.W_hh, self.b_h], init, hidden_dim)
            if init == "randn":
                nn.init.zeros_(self.b_h)
        self.head = _make_head(hidden_dim, n_classes, init, randn_bias=False)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """All hidden states h_1..h_T, (B, T, H)."""
        if self.backend == "torch":
            return self.rnn(x)[0]
        x_proj = x @ self.W_hx + self.b_h  # (B, T, D) -> (B, T, H): the input term, one matmul
        h = x.new_zeros(x.shape[0], self.hidden_dim)
        states = []
        for xp_t in x_proj.unbind(1):  # unbind, not x[:, t]: indexing in the loop is ~45% slower
            h = torch.tanh(torch.addmm(xp_t, h, self.W_hh))
            states.append(h)
        return torch.stack(states, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden_states(x)[:, -1])

    @torch.no_grad()
    def load_torch_weights(self, rnn: nn.RNN) -> None:
        """Copy a one-layer ``nn.RNN(tanh)``'s weights (used to test against it)."""
        if self.backend == "torch":
            self.rnn.load_state_dict(rnn.state_dict())
            return
        self.W_hx.copy_(rnn.weight_ih_l0.t())
        self.W_hh.copy_(rnn.weight_hh_l0.t())
        self.b_h.copy_(rnn.bias_ih_l0 + rnn.bias_hh_l0)


class LSTM(nn.Module):
    """Seed 000's LSTM: x (B, T, D) -> logits (B, C) from the last hidden state.

    Scratch weights are one matrix ``weight`` (H + D + 1, 4H): rows W_h, W_x, b, so that
    z_t = [h_{t-1}, x_t, 1] @ weight; columns are the gates in torch.nn.LSTM's order i, f, g, o.
    Training runs ``lstm_sequence`` (lstm_bptt.py), forward and backward written by hand.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        n_classes: int,
        *,
        backend: str = "scratch",
        init: str = "default",
        forget_bias: float = 0.0,
    ) -> None:
        super().__init__()
        self.backend, self.input_dim, self.hidden_dim = backend, input_dim, hidden_dim
        H = hidden_dim
        if backend == "torch":
            self.rnn = nn.LSTM(input_dim, H, batch_first=True)
            if init == "randn":  # seed 000: every weight and bias randn (one bias, the other zero)
                _init_([p for n, p in self.rnn.named_parameters() if n != "bias_hh_l0"], init, H)
                nn.init.zeros_(self.rnn.bias_hh_l0)
            bias = self.rnn.bias_ih_l0
        else:
            self.weight = nn.Parameter(torch.empty(H + input_dim + 1, 4 * H))
            _init_([self.weight], init, H)
            bias = self.weight[-1]
        with torch.no_grad():
            bias[H : 2 * H] += forget_bias  # a large forget bias keeps c flowing early in training
        self.head = _make_head(H, n_classes, init, randn_bias=True)

    def _weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(W_x (D, 4H), W_h (H, 4H), b (4H,)) for either backend."""
        if self.backend == "torch":
            r = self.rnn
            return r.weight_ih_l0.t(), r.weight_hh_l0.t(), r.bias_ih_l0 + r.bias_hh_l0
        W_h, W_x, b = self.weight.split([self.hidden_dim, self.input_dim, 1])
        return W_x, W_h, b[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.backend == "torch":
            return self.head(self.rnn(x)[0][:, -1])
        return self.head(lstm_sequence(x, self.weight))

    def _reference(self, x: torch.Tensor, keep: bool) -> tuple[torch.Tensor, list[tuple]]:
        W_x, W_h, b = self._weights()
        W_ix, W_fx, W_gx, W_ox = W_x.chunk(4, dim=1)
        W_ih, W_fh, W_gh, W_oh = W_h.chunk(4, dim=1)
        b_i, b_f, b_g, b_o = b.chunk(4)
        h = c = x.new_zeros(x.shape[0], self.hidden_dim)
        steps = []
        for x_t in x.unbind(1):
            g = torch.tanh(x_t @ W_gx + h @ W_gh + b_g)
            i = torch.sigmoid(x_t @ W_ix + h @ W_ih + b_i)
            f = torch.sigmoid(x_t @ W_fx + h @ W_fh + b_f)
            o = torch.sigmoid(x_t @ W_ox + h @ W_oh + b_o)
            c = g * i + c * f
            h = torch.tanh(c) * o
            if keep:
                steps.append((g, i, f, o, c, h))
        return h, steps

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The same logits from the literal gate equations under autograd (slow; for tests)."""
        return self.head(self._reference(x, keep=False)[0])

    @torch.no_grad()
    def gates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """g, i, f, o, c, h at every step, each (B, T, H)."""
        steps = self._reference(x, keep=True)[1]
        per_gate = zip(*steps, strict=True)  # T tuples (g, i, f, o, c, h) -> 6 tuples of T
        return {name: torch.stack(v, dim=1) for name, v in zip(GATES, per_gate, strict=True)}

    @torch.no_grad()
    def load_torch_weights(self, lstm: nn.LSTM) -> None:
        """Copy a one-layer ``nn.LSTM``'s weights (used to test against it)."""
        if self.backend == "torch":
            self.rnn.load_state_dict(lstm.state_dict())
            return
        bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
        self.weight.copy_(torch.cat([lstm.weight_hh_l0.t(), lstm.weight_ih_l0.t(), bias[None]]))


class SequenceClassifier(nn.Module):
    """Palindrome digits -> logits for the last digit. x (B, T) scalar or (B, T, D) -> (B, C)."""

    def __init__(self, config: SequenceConfig = SequenceConfig()) -> None:
        super().__init__()
        self.config = cfg = config
        args = (cfg.input_dim, cfg.hidden_dim, cfg.n_classes)
        if cfg.model == "lstm":
            self.net = LSTM(*args, backend=cfg.backend, init=cfg.init, forget_bias=cfg.forget_bias)
        else:
            self.net = VanillaRNN(*args, backend=cfg.backend, init=cfg.init)

    def _as_3d(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and self.config.input_dim == 1:
            x = x.unsqueeze(-1)  # (B, T) digit values -> (B, T, 1)
        if x.dim() != 3 or x.shape[1] < 1 or x.shape[2] != self.config.input_dim:
            raise ValueError(
                f"{self.config.encoding} input must be (B, T, {self.config.input_dim})"
                f"{' or (B, T)' if self.config.input_dim == 1 else ''}, got {tuple(x.shape)}"
            )
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self._as_3d(x))

    def gates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """LSTM: g, i, f, o, c, h each (B, T, H); RNN: only h."""
        x = self._as_3d(x)
        if isinstance(self.net, LSTM):
            return self.net.gates(x)
        with torch.no_grad():
            return {"h": self.net.hidden_states(x)}

    def input_gradient_norms(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """|d loss / d x_t| over batch and features, (T,): how much each step still matters."""
        x = self._as_3d(x).detach().clone().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(F.cross_entropy(self.net(x), y), x)
        return grad.norm(dim=(0, 2))

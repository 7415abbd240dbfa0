"""Training-step speed of the LSTM: hand-written (C++ or Python time loop), torch.nn.LSTM, seed 000.

    python bench/lstm_speed.py [--json] [--rounds 6] [--steps 50] [--seconds 6]

One step = forward, cross-entropy, backward, Adam (lr 3e-3) on palindromes of length 20 (19 input
steps), batch 128, hidden 128, torch.set_num_threads(2). Batches are drawn before timing.
torch.set_flush_denormal(True) is on for every variant except "seed 000 loop, denormals on": seed
000's randn init saturates the gates and its gradients become denormal floats, ~10x slower on CPU.
This VM's speed drifts by up to 2x within minutes (and 2-thread ops stall whenever another job
takes a core), so variants run in interleaved rounds and the median round is reported; compare
rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from gendl.data import palindrome_batch  # noqa: E402
from gendl.models.lstm_bptt import LSTMSequence, kernel  # noqa: E402
from gendl.models.sequence import SequenceClassifier, SequenceConfig  # noqa: E402

SEQ_LENGTH, BATCH, HIDDEN = 20, 128, 128


class SeedLSTM(nn.Module):
    """Seed 000's LSTM as written there (randn init, scalar input, x[:, t] in the loop)."""

    def __init__(self, seq_length, input_dim, hidden_dim, output_dim):
        super().__init__()
        self.seq_length = seq_length
        self.hidden_dim = hidden_dim
        self.Wgx = nn.Parameter(torch.randn(input_dim, hidden_dim))
        self.Wgh = nn.Parameter(torch.randn(hidden_dim, hidden_dim))
        self.bg = nn.Parameter(torch.randn(1, hidden_dim))
        self.Wix = nn.Parameter(torch.randn(input_dim, hidden_dim))
        self.Wih = nn.Parameter(torch.randn(hidden_dim, hidden_dim))
        self.bi = nn.Parameter(torch.randn(1, hidden_dim))
        self.Wfx = nn.Parameter(torch.randn(input_dim, hidden_dim))
        self.Wfh = nn.Parameter(torch.randn(hidden_dim, hidden_dim))
        self.bf = nn.Parameter(torch.randn(1, hidden_dim))
        self.Wox = nn.Parameter(torch.randn(input_dim, hidden_dim))
        self.Woh = nn.Parameter(torch.randn(hidden_dim, hidden_dim))
        self.bo = nn.Parameter(torch.randn(1, hidden_dim))
        self.Wph = nn.Parameter(torch.randn(hidden_dim, output_dim))
        self.bp = nn.Parameter(torch.randn(1, output_dim))

    def forward(self, x):
        batch_size = x.shape[0]
        h = torch.zeros(batch_size, self.hidden_dim)
        c = torch.zeros(batch_size, self.hidden_dim)
        for t in range(self.seq_length):
            xt = x[:, t].reshape(-1, 1)
            gt = torch.tanh(torch.mm(xt, self.Wgx) + torch.mm(h, self.Wgh) + self.bg)
            it = torch.sigmoid(torch.mm(xt, self.Wix) + torch.mm(h, self.Wih) + self.bi)
            ft = torch.sigmoid(torch.mm(xt, self.Wfx) + torch.mm(h, self.Wfh) + self.bf)
            ot = torch.sigmoid(torch.mm(xt, self.Wox) + torch.mm(h, self.Woh) + self.bo)
            c = gt * it + c * ft
            h = torch.tanh(c) * ot
        return torch.mm(h, self.Wph) + self.bp


def make_step(model: nn.Module, encoding: str, forward=None) -> Callable[[], None]:
    """A closure running one Adam step on the next of a few pre-drawn batches."""
    g = torch.Generator().manual_seed(0)
    batches = [
        palindrome_batch(SEQ_LENGTH, BATCH, generator=g, encoding=encoding) for _ in range(8)
    ]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    forward = forward or model
    count = [0]

    def step() -> None:
        x, y = batches[count[0] % len(batches)]
        count[0] += 1
        loss = F.cross_entropy(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def rate(
    step: Callable[[], None], n_steps: int | None = None, seconds: float | None = None
) -> float:
    """Steps per second over ``n_steps`` steps, or over as many as fit in ``seconds``."""
    start, done = time.perf_counter(), 0
    while (n_steps is not None and done < n_steps) or (
        seconds is not None and time.perf_counter() - start < seconds
    ):
        step()
        done += 1
    return done / (time.perf_counter() - start)


def run(rounds: int, steps: int, seconds: float) -> dict[str, float]:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    scratch = SequenceClassifier(SequenceConfig(backend="scratch"))
    net = scratch.net
    if kernel() is None:
        raise SystemExit("the LSTM kernel could not be built (see the warning above)")
    fast = {
        "scratch LSTM (C++ time loop)": make_step(scratch, "onehot"),
        "torch.nn.LSTM": make_step(SequenceClassifier(SequenceConfig(backend="torch")), "onehot"),
        "scratch LSTM (Python time loop)": make_step(
            scratch, "onehot", lambda x: net.head(LSTMSequence.apply(x, net.weight))
        ),
        "scratch LSTM, autograd reference": make_step(
            scratch, "onehot", lambda x: net.forward_reference(x)
        ),
    }
    torch.set_flush_denormal(True)
    per_round: dict[str, list[float]] = {name: [] for name in fast}
    for step in fast.values():  # warm-up: allocator, thread pool, oneDNN primitives
        rate(step, n_steps=10)
    for _ in range(rounds):
        for name, step in fast.items():
            n = steps if "reference" not in name else max(5, steps // 5)
            per_round[name].append(rate(step, n_steps=n))
    results = {name: statistics.median(r) for name, r in per_round.items()}
    seed_step = make_step(SeedLSTM(SEQ_LENGTH - 1, 1, HIDDEN, 10), "scalar")
    rate(seed_step, n_steps=2)
    labels = {False: "seed 000 loop, denormals on", True: "seed 000 loop, flush-denormal"}
    seed_rounds: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(3):  # alternate, so that a busy moment on the machine hits both rows
        for flush in (False, True):
            torch.set_flush_denormal(flush)
            seed_rounds[flush].append(rate(seed_step, seconds=seconds / 3))
    torch.set_flush_denormal(True)
    results.update({labels[k]: statistics.median(v) for k, v in seed_rounds.items()})
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds (fast variants)")
    parser.add_argument("--steps", type=int, default=50, help="steps per round and variant")
    parser.add_argument("--seconds", type=float, default=6.0, help="budget for each seed-loop row")
    args = parser.parse_args(argv)
    results = run(args.rounds, args.steps, args.seconds)
    reference = results["torch.nn.LSTM"]
    print(f"T={SEQ_LENGTH - 1} input steps, batch {BATCH}, hidden {HIDDEN}, Adam, 2 threads")
    print(f"{'variant':36s} {'steps/s':>8s} {'vs nn.LSTM':>10s}")
    for name, value in results.items():
        print(f"{name:36s} {value:8.1f} {value / reference:9.2f}x")
    if args.json:
        summary = {"seq_length": SEQ_LENGTH, "batch": BATCH, "hidden": HIDDEN}
        print(json.dumps({**summary, "steps_per_s": {k: round(v, 2) for k, v in results.items()}}))


if __name__ == "__main__":
    main()

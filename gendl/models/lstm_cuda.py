"""The hand-written LSTM's time loop on a GPU, where the C++ loop (CPU only) does not apply.

The Python loop (``lstm_forward``/``lstm_backward`` in lstm_bptt.py) launches ~8 small kernels per
time step; for MNIST-sized batches the GPU waits on those launches, not on arithmetic. Two ways to
remove them, chosen by ``GENDL_LSTM_LOOP`` (see ``lstm_bptt.lstm_sequence``) and measured against
torch.nn.LSTM (cuDNN) by ``bench/gpu.py``:

- ``graph``: forward and backward of each input shape captured once as two CUDA graphs and replayed
  (one launch each); the same kernels, none of the launch cost.
- ``compile``: ``torch.compile`` of the same two functions (Inductor fuses the element-wise ops of
  each step into one kernel); compiled once per shape.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import torch

from gendl.models.lstm_bptt import loop_function, lstm_backward, lstm_forward

WARMUP_CALLS = 3  # eager calls on a side stream before capture (cuBLAS handles, allocator)


class _GraphedLoop:
    """Forward and backward of one (shape, dtype, device) as two CUDA graphs over static buffers.

    A replay overwrites the buffers, so a forward's backward must run before the next forward of
    the same shape (true of a training step); ``generation`` catches the other case."""

    def __init__(self, x: torch.Tensor, weight: torch.Tensor, need_x: bool) -> None:
        self.x, self.weight = x.detach().clone(), weight.detach().clone()
        self.grad_h = x.new_zeros(x.shape[0], weight.shape[1] // 4)
        self.generation = 0
        input_dim = x.shape[2]
        side = torch.cuda.Stream(x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_CALLS):
                _, saved = lstm_forward(self.x, self.weight)
                lstm_backward(self.grad_h, self.weight, saved, input_dim, need_x)
        torch.cuda.current_stream(x.device).wait_stream(side)
        self.forward_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.forward_graph):
            self.h_last, self.saved = lstm_forward(self.x, self.weight)
        self.backward_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.backward_graph, pool=self.forward_graph.pool()):
            self.grad_x, self.grad_w = lstm_backward(
                self.grad_h, self.weight, self.saved, input_dim, need_x
            )


_graphs: dict[tuple[Any, ...], _GraphedLoop] = {}


def _graphed(x: torch.Tensor, weight: torch.Tensor, need_x: bool) -> _GraphedLoop:
    key = (tuple(x.shape), tuple(weight.shape), x.dtype, x.device, need_x)
    if key not in _graphs:
        _graphs[key] = _GraphedLoop(x, weight, need_x)
    return _graphs[key]


class LSTMGraphSequence(torch.autograd.Function):
    """x (B, T, D), weight (H + D + 1, 4H) -> h_T (B, H): the Python loop replayed as CUDA graphs."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        loop = _graphed(x, weight, ctx.needs_input_grad[0])
        loop.x.copy_(x)
        loop.weight.copy_(weight)
        loop.forward_graph.replay()
        loop.generation += 1
        ctx.loop, ctx.generation = loop, loop.generation
        return loop.h_last.clone()

    @staticmethod
    def backward(ctx, grad_h: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        loop = ctx.loop
        if loop.generation != ctx.generation:
            raise RuntimeError(
                "the CUDA-graph LSTM ran a second forward of this shape before the first one's "
                "backward; use GENDL_LSTM_LOOP=python for such a model"
            )
        loop.grad_h.copy_(grad_h)
        loop.backward_graph.replay()
        grad_x = loop.grad_x.clone() if ctx.needs_input_grad[0] else None
        return grad_x, loop.grad_w.clone()


@cache
def _compiled() -> tuple[Any, Any]:
    options = {"dynamic": False}  # one compilation per shape: the sweep uses a few lengths
    return torch.compile(lstm_forward, **options), torch.compile(lstm_backward, **options)


LSTMCompiledSequence = loop_function(
    _compiled,
    "x (B, T, D), weight (H + D + 1, 4H) -> h_T (B, H): the Python loop through torch.compile.",
)

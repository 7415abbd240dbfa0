"""The hand-written LSTM's training path: seed 000's gate equations with a hand-written BPTT.

An autograd graph of T steps under a Python loop is ~2x slower than torch.nn.LSTM, so forward and
backward are written by hand. Two implementations of the same maths: ``LSTMKernelSequence`` runs
the time loop in C++ (``lstm_kernel.cpp``, compiled on first use, ~25 s, then cached by torch), one
matrix product and one fused pass per step; ``LSTMSequence`` is the same loop as a few large tensor
ops per step in Python, used where the kernel cannot be built (no C++ compiler) or does not apply
(float64, as in gradcheck, or a GPU). On a GPU the Python loop is replayed as CUDA graphs or
compiled (``lstm_cuda.py``). ``lstm_sequence`` picks one. ``LSTM.forward_reference`` in
``sequence.py`` is the literal version; the tests hold both to it and to torch.nn.LSTM.
Speed against torch.nn.LSTM: ``python bench/lstm_speed.py``.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch

KERNEL_SOURCE = Path(__file__).with_name("lstm_kernel.cpp")
KERNEL_ENV = "GENDL_LSTM_KERNEL"  # "0": always the Python time loop
LOOP_ENV = "GENDL_LSTM_LOOP"
# auto: kernel on a CPU, graph on a GPU; kernel: the C++ loop (CPU float32, else python);
# python: the loop below, any device; graph, compile: CUDA only (lstm_cuda.py)
LOOPS = ("auto", "kernel", "python", "graph", "compile")


@functools.cache
def kernel() -> ModuleType | None:
    """The compiled time loop, built on first use; None (with a warning) where it cannot be."""
    if os.environ.get(KERNEL_ENV, "1") == "0":
        return None
    # importing cpp_extension logs a warning about CUDA_HOME on machines without CUDA
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        from torch.utils.cpp_extension import load

        return load(
            name="gendl_lstm",
            sources=[str(KERNEL_SOURCE)],
            extra_cflags=["-O3", "-march=native", "-fopenmp"],
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
    except Exception as exc:  # no compiler or headers: the Python loop does the same maths
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        reason = next((line for line in lines if "error" in line), lines[0])[-300:]
        warnings.warn(
            f"LSTM kernel {KERNEL_SOURCE.name} could not be built ({reason}); "
            "the slower Python time loop is used",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def lstm_sequence(x: torch.Tensor, weight: torch.Tensor, loop: str | None = None) -> torch.Tensor:
    """x (B, T, D), weight (H + D + 1, 4H) -> h_T (B, H), through the time loop ``loop`` names (by
    default ``$GENDL_LSTM_LOOP``, else ``auto``): see :data:`LOOPS`."""
    loop = loop or os.environ.get(LOOP_ENV, "auto")
    if loop not in LOOPS:
        raise ValueError(f"{LOOP_ENV} must be one of {', '.join(LOOPS)}; got {loop!r}")
    on_cuda = x.device.type == "cuda"
    if loop == "auto":
        loop = "graph" if on_cuda else "kernel"
    if loop in ("graph", "compile") and not on_cuda:
        raise ValueError(f"the {loop!r} LSTM time loop runs on CUDA tensors only; got {x.device}")
    if loop == "graph":
        from gendl.models.lstm_cuda import LSTMGraphSequence

        return LSTMGraphSequence.apply(x, weight)
    if loop == "compile":
        from gendl.models.lstm_cuda import LSTMCompiledSequence

        return LSTMCompiledSequence.apply(x, weight)
    on_cpu_f32 = all(t.dtype == torch.float32 and t.device.type == "cpu" for t in (x, weight))
    if loop == "kernel" and on_cpu_f32 and kernel() is not None:
        return LSTMKernelSequence.apply(x, weight)
    return LSTMSequence.apply(x, weight)


class LSTMKernelSequence(torch.autograd.Function):
    """x (B, T, D), weight (H + D + 1, 4H) -> h_T (B, H), the time loop in ``lstm_kernel.cpp``.

    The kernel keeps every step's [h_{t-1}, x_t, 1] (T, B, H + D + 1) and returns every step's
    pre-activation gradient dz (T, B, 4H); the weight gradient is then one product over all steps,
    [h_{t-1}, x_t, 1]^T @ dz_t, and the input gradient dz @ W_x^T.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        h_last, hx, gates, c, tc = kernel().forward(x.contiguous(), weight.contiguous())
        ctx.save_for_backward(weight, hx, gates, c, tc)
        return h_last

    @staticmethod
    def backward(ctx, grad_h: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        weight, hx, gates, c, tc = ctx.saved_tensors
        T, B, H4 = gates.shape
        H, K = H4 // 4, hx.shape[2]
        dz = kernel().backward(grad_h.contiguous(), weight, gates, c, tc).view(T * B, H4)
        grad_w = hx.view(T * B, K).t() @ dz  # (K, 4H)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = (dz @ weight[H:-1].t()).view(T, B, K - H - 1).transpose(0, 1)
        return grad_x, grad_w


def _blocks(w: torch.Tensor, order: list[int]) -> torch.Tensor:
    """Reorder the four gate blocks of the last dimension."""
    return torch.cat([w.chunk(4, dim=-1)[k] for k in order], dim=-1)


def lstm_forward(x: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, tuple]:
    """The Python time loop's forward: x (B, T, D), weight (H + D + 1, 4H) -> (h_T (B, H), what
    ``lstm_backward`` needs). Only tensor ops, no host reads, so a CUDA graph can capture it.

    Per step one matmul [h_{t-1}/2, x_t, 1] @ w and seven small in-place ops. tanh is ~4x slower
    than sigmoid on CPU, so tanh(z) = 2 sigmoid(2z) - 1: the g columns are doubled and one sigmoid
    covers all four gates. Kept per step: gates, 2c, tanh(c)/2 and [h/2, x, 1] (the halves move
    the factors 2 into the weights). Every per-step view is made before the loop (``unbind``):
    indexing inside it costs as much as the arithmetic.
    """
    B, T, D = x.shape
    H = weight.shape[1] // 4
    K = H + D + 1
    K_pad = K + (-K) % 16  # rows padded to 64 bytes
    w = x.new_zeros(K_pad, 4 * H)
    torch.mul(weight, _gate_scale(x, H, (1.0, 1.0, 2.0, 1.0)), out=w[:K])
    w[:H] *= 2  # the rows of W_h meet h/2
    hx = x.new_zeros(T, B, K_pad)  # rows [h_{t-1} / 2, x_t, 1, 0...]
    hx[:, :, H : H + D] = x.transpose(0, 1)
    hx[:, :, H + D] = 1.0
    z = x.new_empty(T, B, 4 * H)  # gates i, f, g, o after the sigmoid
    c2 = x.new_empty(T + 1, B, H)  # 2 c_t; c2[t] is c_{t-1}
    c2[0] = 0.0
    u = x.new_empty(T, B, H)  # tanh(c_t) / 2
    h_last = x.new_empty(B, H)
    hx_t, z_t, c2_t, u_t = hx.unbind(0), z.unbind(0), c2.unbind(0), u.unbind(0)
    i_t, f_t, g_t, o_t = (gate.unbind(0) for gate in z.chunk(4, dim=2))
    h_out = hx[1:, :, :H].unbind(0) + (h_last,)
    for t in range(T):
        torch.mm(hx_t[t], w, out=z_t[t])  # (B, K) @ (K, 4H)
        z_t[t].sigmoid_()
        g_t[t].add_(-0.5)  # tanh(z_g) / 2
        torch.mul(c2_t[t], f_t[t], out=c2_t[t + 1]).addcmul_(g_t[t], i_t[t], value=4.0)
        torch.sigmoid(c2_t[t + 1], out=u_t[t]).add_(-0.5)
        torch.mul(u_t[t], o_t[t], out=h_out[t])  # h / 2
    return 2 * h_last, (z, c2, u, hx)


def _gate_scale(like: torch.Tensor, H: int, factors: tuple[float, ...]) -> torch.Tensor:
    """(4H,) with each gate block's factor, made with fills (no host-to-device copy)."""
    scale = like.new_empty(4 * H)
    for k, factor in enumerate(factors):
        scale[k * H : (k + 1) * H] = factor
    return scale


def lstm_backward(
    grad_h: torch.Tensor, weight: torch.Tensor, saved: tuple, input_dim: int, need_x: bool
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The Python time loop's backward: (grad_x (B, T, D) or None, grad_weight).

    The gate derivatives for all steps at once, then per step three ops and the dh matmul; the
    weight gradient is one matmul over all steps, [h_{t-1}, x_t, 1]^T @ dz_t."""
    z, c2, u, hx = saved
    T, B, H4 = z.shape
    H, D = H4 // 4, input_dim
    K = H + D + 1
    i, f, g, o = z.chunk(4, dim=2)  # g holds tanh(z_g) / 2
    # d/dz of each gate times what multiplies it, up to factors (i 2, f 1/2, o 2) put in `scale`
    r = torch.addcmul(z, z, z, value=-1.0)  # sigmoid' = s (1 - s) for i, f, o
    eo = r[..., 3 * H :] * u  # dz_o / (2 dh)
    r[..., :H].mul_(g)  # dz_i / (2 dc)
    r[..., H : 2 * H].mul_(c2[:-1])  # dz_f * 2 / dc
    one = g.new_ones(())
    torch.addcmul(one, g, g, value=-4.0, out=r[..., 2 * H : 3 * H]).mul_(i)  # dz_g / dc
    r[..., 3 * H :] = f  # the same product gives dc_{t-1} = dc_t f_t
    a = torch.addcmul(one, u, u, value=-4.0).mul_(o)  # dc / dh = o (1 - tanh^2 c)
    # per step [dz_o, dz_i, dz_f, dz_g, dc_{t-1}]: one op writes the last four
    buf = grad_h.new_empty(T + 1, B, 5 * H)
    buf[T, :, 4 * H :] = 0.0
    scale = _gate_scale(grad_h, H, (2.0, 2.0, 0.5, 1.0))  # blocks o, i, f, g
    w_back = (_blocks(weight[:H], [3, 0, 1, 2]) * scale).t().contiguous()  # (4H, H)
    dc_t = buf[:, :, 4 * H :].unbind(0)
    dc_bcast_t = buf[:, :, 4 * H :].unsqueeze(2).unbind(0)  # (B, 1, H)
    dz_o_t = buf[:, :, :H].unbind(0)
    dz_ifg_c_t = buf[:, :, H:].view(T + 1, B, 4, H).unbind(0)
    dz_t = buf[:, :, : 4 * H].unbind(0)
    a_t, eo_t, r_t = a.unbind(0), eo.unbind(0), r.view(T, B, 4, H).unbind(0)
    dh = grad_h.contiguous()
    for t in range(T - 1, -1, -1):
        dc_t[t + 1].addcmul_(dh, a_t[t])
        torch.mul(dh, eo_t[t], out=dz_o_t[t])
        torch.mul(dc_bcast_t[t + 1], r_t[t], out=dz_ifg_c_t[t])
        if t > 0:
            dh = torch.mm(dz_t[t], w_back)  # (B, 4H) @ (4H, H)
    dz = buf[:T].view(T * B, 5 * H)[:, : 4 * H]  # (T B, 4H), blocks o, i, f, g, unscaled
    grad_w = _blocks(hx.view(T * B, -1).t()[:K] @ dz * scale, [1, 2, 3, 0])
    grad_w[:H] *= 2  # the rows of W_h met h/2
    grad_x = None
    if need_x:
        w_x = _blocks(weight[H : H + D], [3, 0, 1, 2]) * scale
        grad_x = (dz @ w_x.t()).view(T, B, D).transpose(0, 1)
    return grad_x, grad_w


def loop_function(loops: Callable[[], tuple[Callable, Callable]], doc: str) -> type:
    """An autograd Function over a forward and a backward time loop with ``lstm_forward``'s and
    ``lstm_backward``'s signatures; ``loops()`` returns the pair when first needed (a compiled
    pair is built on first use)."""

    class LoopSequence(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
            h_last, saved = loops()[0](x, weight)
            ctx.save_for_backward(weight, *saved)
            ctx.input_dim = x.shape[2]
            return h_last

        @staticmethod
        def backward(ctx, grad_h: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
            weight, *saved = ctx.saved_tensors
            need_x = ctx.needs_input_grad[0]
            return loops()[1](grad_h, weight, tuple(saved), ctx.input_dim, need_x)

    LoopSequence.__doc__ = doc
    return LoopSequence


LSTMSequence = loop_function(
    lambda: (lstm_forward, lstm_backward),
    """x (B, T, D), weight (H + D + 1, 4H) -> h_T (B, H), the time loop in Python (any dtype or
    device): ``lstm_forward`` and ``lstm_backward``.""",
)

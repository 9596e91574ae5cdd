"""The fused CPU kernel of the Quantum-Train mapping's MLP (``mlp_kernel.cpp``) and its autograd wrapper.

``gelu_mlp(x, bt, u, v)[c, s] = Σ_k v_k · gelu(bt[k, s] + x[c, s] · u_k)`` is the one-output MLP that the ``qt``
mapping runs on every weight; the kernel never materializes its ``[C, S, H]`` hidden layer. Built and cached like the
statevector kernel (``hqctf_qiskit.native.build``); where it is unavailable (no compiler, ``HQCTF_NATIVE=0``, a CUDA
tensor) the mapping keeps its torch form, which computes the same numbers. Built with OpenMP it runs on torch's
threads; a compiler without OpenMP gives a serial kernel.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from .build import KernelSource, load

KERNEL = KernelSource(Path(__file__).with_name("mlp_kernel.cpp"), "qt-mlp", "mlp_abi_version", 1,
                      extra_flags=("-ffast-math",))


def _declare(lib: ctypes.CDLL) -> None:
    p, i32, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
    for suffix in ("f32", "f64"):
        forward = getattr(lib, f"mlp_forward_{suffix}")
        forward.argtypes, forward.restype = [i64, i64, i32, p, p, p, p, p, i32], None
        backward = getattr(lib, f"mlp_backward_{suffix}")
        backward.argtypes, backward.restype = [i64, i64, i32, p, p, p, p, p, p, p, p, p, i32], None


def load_kernel() -> ctypes.CDLL | None:
    """The compiled kernel, or None (``HQCTF_NATIVE=0`` now, no compiler, or build failure: logged once)."""
    return load(KERNEL, _declare)


def kernel_applies(x: torch.Tensor) -> bool:
    """True where the kernel can run on ``x``: a CPU float32/float64 tensor and a kernel that built."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and load_kernel() is not None


def _pointers(*tensors: torch.Tensor) -> list[int]:
    return [t.data_ptr() for t in tensors]


class GeluMLP(torch.autograd.Function):
    """``[C, S]`` outputs of the one-output GELU MLP; backward recomputes the hidden layer in the kernel."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bt: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        x, bt, u, v = (t.detach().to(x.dtype).contiguous() for t in (x, bt, u, v))
        lib, suffix = load_kernel(), "f32" if x.dtype == torch.float32 else "f64"
        out = torch.empty_like(x)
        getattr(lib, f"mlp_forward_{suffix}")(x.shape[0], x.shape[1], bt.shape[0], *_pointers(x, bt, u, v, out),
                                               torch.get_num_threads())
        ctx.save_for_backward(x, bt, u, v)
        ctx.suffix = suffix
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, bt, u, v = ctx.saved_tensors
        grad_out = grad_out.to(x.dtype).contiguous()
        grad_x, grad_bt = torch.empty_like(x), torch.empty_like(bt)
        grad_u, grad_v = torch.empty_like(u), torch.empty_like(v)
        getattr(load_kernel(), f"mlp_backward_{ctx.suffix}")(
            x.shape[0], x.shape[1], bt.shape[0], *_pointers(x, bt, u, v, grad_out, grad_x, grad_bt, grad_u, grad_v),
            torch.get_num_threads())
        return grad_x, grad_bt, grad_u, grad_v


def gelu_mlp(x: torch.Tensor, bt: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``out[c, s] = Σ_k v[k]·gelu(bt[k, s] + x[c, s]·u[k])`` for x ``[C, S]``, bt ``[H, S]``, u and v ``[H]``."""
    return GeluMLP.apply(x, bt, u, v)

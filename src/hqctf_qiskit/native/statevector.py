"""The fused CPU kernel of the statevector engine (``native_kernel.cpp``): build, load, and autograd wrapper.

The kernel is compiled on first use and cached (``hqctf_qiskit.native.build``). Where no compiler is found or the build
fails, the engine logs it once and keeps its pure-torch path, which computes the same numbers. ``HQCTF_NATIVE=0``
turns the kernel off.
"""

from __future__ import annotations

import ctypes
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from .build import KernelSource, load

log = logging.getLogger(__name__)

KERNEL = KernelSource(Path(__file__).with_name("statevector_kernel.cpp"), "statevector", "hq_abi_version", 5)
MIN_CHANNELS_PER_THREAD = 4  # below this, thread hand-off costs more than it saves


def _declare(lib: ctypes.CDLL) -> None:
    p, i32, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
    common = [i32, i32, p, p, p, p, p, i64, i64, i64, i32]
    for suffix in ("f32", "f64"):
        forward = getattr(lib, f"hq_forward_{suffix}")
        forward.argtypes, forward.restype = [*common, p, p], i32
        backward = getattr(lib, f"hq_backward_{suffix}")
        backward.argtypes, backward.restype = [*common, p, p, p], i32
    lib.hq_has_openmp.restype = i32


def load_kernel() -> ctypes.CDLL | None:
    """The compiled kernel, or None (``HQCTF_NATIVE=0`` now, no compiler, or build failure: logged once)."""
    return load(KERNEL, _declare)


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="hqctf-kernel")


@dataclass
class KernelPlan:
    """The circuit's op sequence as the kernel reads it (CPU tensors, built once per engine and dtype)."""

    num_qubits: int
    ops: torch.Tensor  # int32 [num_ops]
    active: torch.Tensor  # uint8 [L, n]
    perm_index: torch.Tensor  # int64 [P, 2^n] (P >= 1; a dummy row when there is no permutation)
    perm_sign: torch.Tensor | None  # dtype [P, 2^n]

    def _arguments(self, mats: torch.Tensor) -> list:
        sign = self.perm_sign.data_ptr() if self.perm_sign is not None else None
        return [self.num_qubits, len(self.ops), self.ops.data_ptr(), self.active.data_ptr(), mats.data_ptr(),
                self.perm_index.data_ptr(), sign, mats.shape[1]]

    def run(self, lib: ctypes.CDLL, function, mats: torch.Tensor, *buffers: torch.Tensor) -> None:
        """Call ``function`` over all channels with torch's thread count: on the kernel's OpenMP threads, or (serial
        build) on channel ranges in Python threads (ctypes releases the GIL)."""
        batch = mats.shape[1]
        threads = max(1, min(torch.get_num_threads(), batch // MIN_CHANNELS_PER_THREAD))
        head = self._arguments(mats)
        pointers = [b.data_ptr() for b in buffers]
        if lib.hq_has_openmp() or threads == 1:
            codes = [function(*head, 0, batch, threads, *pointers)]
        else:
            bounds = [round(i * batch / threads) for i in range(threads + 1)]
            spans = [(bounds[i], bounds[i + 1]) for i in range(threads)]
            codes = list(_pool().map(lambda span: function(*head, *span, 1, *pointers), spans))
        if any(codes):
            raise RuntimeError(f"statevector CPU kernel returned {codes}")


class NativeProbabilities(torch.autograd.Function):
    """Probabilities ``[B, 2^n]`` from fused per-qubit matrices ``[L, B, n, 4]``.

    The backward pass starts from the saved final amplitudes and undoes the gates channel by channel, in cache.
    """

    @staticmethod
    def forward(ctx, mats: torch.Tensor, plan: KernelPlan, lib: ctypes.CDLL) -> torch.Tensor:
        mats = mats.detach().contiguous()
        suffix = "f32" if mats.dtype == torch.float32 else "f64"
        probabilities = torch.empty(mats.shape[1], 2**plan.num_qubits, dtype=mats.dtype)
        amplitudes = torch.empty_like(probabilities)
        plan.run(lib, getattr(lib, f"hq_forward_{suffix}"), mats, probabilities, amplitudes)
        ctx.save_for_backward(mats, amplitudes)
        ctx.plan, ctx.lib, ctx.suffix = plan, lib, suffix
        return probabilities

    @staticmethod
    def backward(ctx, grad_probabilities: torch.Tensor):
        mats, amplitudes = ctx.saved_tensors
        grad_mats = torch.zeros_like(mats)
        ctx.plan.run(ctx.lib, getattr(ctx.lib, f"hq_backward_{ctx.suffix}"), mats, amplitudes,
                     grad_probabilities.to(mats.dtype).contiguous(), grad_mats)
        return grad_mats, None, None

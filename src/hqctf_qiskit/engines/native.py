"""The fused CPU kernel of the statevector engine (``native_kernel.cpp``): build, load, and autograd wrapper.

The kernel is compiled on first use with the system C++ compiler into the hqctf cache (``$HQCTF_CACHE_DIR`` or
``~/.cache/hqctf``), keyed by the source, the flags, the compiler and the CPU, and loaded with ctypes (no torch or
Python headers, so a build takes about a second). Where no compiler is found or the build fails, the engine logs it
once and keeps its pure-torch path, which computes the same numbers. ``HQCTF_NATIVE=0`` turns the kernel off.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..cache import cache_dir

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("native_kernel.cpp")
FLAGS = ["-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-fno-math-errno", "-fopenmp-simd"]
OPENMP_FLAG = "-fopenmp"  # tried first; a compiler without OpenMP builds the serial kernel instead
ABI_VERSION = 5
MIN_CHANNELS_PER_THREAD = 4  # below this, thread hand-off costs more than it saves


def native_enabled() -> bool:
    return os.environ.get("HQCTF_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


def _cpu_identity() -> str:
    """-march=native code must not run on another CPU that shares the cache directory (e.g. a network home)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        keep = [line for line in lines if line.startswith(("model name", "flags"))][:2]
        return "\n".join(keep)
    except OSError:
        return platform.processor() or platform.machine()


def _library_path(compiler: str) -> Path:
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = "\n".join([SOURCE.read_text(), " ".join(FLAGS), OPENMP_FLAG, version, _cpu_identity(), platform.machine()])
    return cache_dir() / "kernels" / f"statevector-{hashlib.sha256(key.encode()).hexdigest()[:16]}.so"


def _build(compiler: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        error = ""
        for extra in ([OPENMP_FLAG], []):
            result = subprocess.run([compiler, *FLAGS, *extra, str(SOURCE), "-o", tmp], capture_output=True,
                                    text=True, timeout=300)
            if result.returncode == 0:
                os.replace(tmp, target)  # atomic: concurrent builders (DDP ranks, test workers) see whole files
                return
            error = error or (result.stderr.strip().splitlines() or ["compiler failed"])[-1]
        raise RuntimeError(error)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _declare(lib: ctypes.CDLL) -> None:
    p, i32, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
    common = [i32, i32, p, p, p, p, p, i64, i64, i64, i32]
    for suffix in ("f32", "f64"):
        forward = getattr(lib, f"hq_forward_{suffix}")
        forward.argtypes, forward.restype = [*common, p, p], i32
        backward = getattr(lib, f"hq_backward_{suffix}")
        backward.argtypes, backward.restype = [*common, p, p, p], i32
    lib.hq_abi_version.restype = i32
    lib.hq_has_openmp.restype = i32


@lru_cache(maxsize=1)
def load_kernel() -> ctypes.CDLL | None:
    """The compiled kernel, or None (disabled, no compiler, or build failure: logged once)."""
    if not native_enabled():
        return None
    compiler = _compiler()
    if compiler is None:
        log.info("no C++ compiler found: the statevector engine uses its torch path on CPU")
        return None
    try:
        path = _library_path(compiler)
        if not path.is_file():
            log.info("building the statevector CPU kernel with %s -> %s", compiler, path)
            _build(compiler, path)
        lib = ctypes.CDLL(str(path))
        _declare(lib)
        if lib.hq_abi_version() != ABI_VERSION:
            raise RuntimeError(f"{path} has ABI {lib.hq_abi_version()}, expected {ABI_VERSION}")
        return lib
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        log.warning("statevector CPU kernel unavailable (%s): using the torch path", error)
        return None


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

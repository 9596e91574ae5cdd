"""Compile, cache and load the package's small C++ CPU kernels (plain C ABI, called with ctypes).

A kernel is compiled on first use with the system C++ compiler into the hqctf cache (``$HQCTF_CACHE_DIR`` or
``~/.cache/hqctf``/kernels), keyed by its source, flags, compiler and CPU, and installed atomically (concurrent
builders such as DDP ranks or test workers only ever see whole files). No torch or Python headers are involved, so a
build takes about a second. Where no compiler is found or the build fails, the caller gets None (logged once per
kernel) and keeps its pure-torch path, which computes the same numbers. ``HQCTF_NATIVE=0`` turns every kernel off.

The environment (``HQCTF_NATIVE``, ``CXX``, ``HQCTF_CACHE_DIR``) is read at every :func:`load`, not once per
process: setting ``HQCTF_NATIVE=0`` takes effect on the next call. A loaded library is remembered per kernel,
compiler and cache folder, so a changed ``CXX`` or cache folder loads (or builds) again instead of reusing the old one.

Compiling and linking are two steps on purpose: a kernel may be compiled with ``-ffast-math`` (so that glibc's
vectorized ``erf``/``exp`` are used), but linking a shared library with that flag would add GCC's ``crtfastmath.o``,
whose constructor switches the whole process (torch included) to flush-to-zero arithmetic when the library loads.
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
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from ..cache import cache_dir

log = logging.getLogger(__name__)

BASE_FLAGS = ("-O3", "-march=native", "-std=c++17", "-fPIC", "-fno-math-errno", "-fopenmp-simd")
OPENMP_FLAG = "-fopenmp"  # tried first; a compiler without OpenMP builds a serial kernel instead


@dataclass(frozen=True)
class KernelSource:
    """One C++ kernel: its source, a short name for the cached library, its ABI (the version its exported
    ``abi_symbol`` function returns; bumped with every signature change) and extra compile flags."""

    source: Path
    name: str
    abi_symbol: str
    abi_version: int
    extra_flags: tuple[str, ...] = field(default=())

    @property
    def compile_flags(self) -> list[str]:
        return [*BASE_FLAGS, *self.extra_flags]


def native_enabled() -> bool:
    """``HQCTF_NATIVE`` as it is now (default on; ``0``/``false``/``no``/``off`` turn the kernels off)."""
    return os.environ.get("HQCTF_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def compiler() -> str | None:
    """``$CXX``, else the first of c++, g++, clang++ on ``$PATH`` (both read now)."""
    return os.environ.get("CXX") or _compiler_on_path(os.environ.get("PATH", os.defpath))


@lru_cache(maxsize=8)
def _compiler_on_path(search_path: str) -> str | None:
    """Keyed by ``$PATH`` itself, so a changed ``PATH`` is searched again; a kernel call need not search it."""
    return next((found for name in ("c++", "g++", "clang++") if (found := shutil.which(name, path=search_path))),
                None)


def _cpu_identity() -> str:
    """-march=native code must not run on another CPU that shares the cache directory (e.g. a network home)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        keep = [line for line in lines if line.startswith(("model name", "flags"))][:2]
        return "\n".join(keep)
    except OSError:
        return platform.processor() or platform.machine()


@lru_cache(maxsize=None)
def _compiler_version(compiler_path: str) -> str:
    """Asked once per process and compiler, however many kernels are loaded."""
    return subprocess.run([compiler_path, "--version"], capture_output=True, text=True, timeout=30).stdout


def library_path(kernel: KernelSource, compiler_path: str) -> Path:
    key = "\n".join([kernel.source.read_text(), " ".join(kernel.compile_flags), OPENMP_FLAG,
                     _compiler_version(compiler_path), _cpu_identity(), platform.machine()])
    return cache_dir() / "kernels" / f"{kernel.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.so"


def _run(command: list[str]) -> str | None:
    """None on success, else the compiler's last error line."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode == 0:
        return None
    return (result.stderr.strip().splitlines() or ["compiler failed"])[-1]


def build(kernel: KernelSource, compiler_path: str, target: Path) -> None:
    """Compile ``kernel`` to ``target`` (with OpenMP if the compiler has it); raises RuntimeError with the error."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as scratch:
        obj, lib = Path(scratch) / "kernel.o", Path(scratch) / "kernel.so"
        error = ""
        for extra in ([OPENMP_FLAG], []):
            error = (_run([compiler_path, *kernel.compile_flags, *extra, "-c", str(kernel.source), "-o", str(obj)])
                     or _run([compiler_path, "-shared", *extra, str(obj), "-o", str(lib)]))
            if error is None:
                os.replace(lib, target)  # atomic; the scratch folder (and any partial output) goes away
                return
        raise RuntimeError(error)


_loaded: dict[tuple[str, str | None, str], ctypes.CDLL | None] = {}
_loading = threading.Lock()


def load(kernel: KernelSource, declare: Callable[[ctypes.CDLL], None]) -> ctypes.CDLL | None:
    """The compiled ``kernel`` (built if needed), or None: disabled, no compiler, or a failed build (logged).

    ``declare`` sets the argument and return types of the kernel's functions. Cheap after the first call: the result
    is remembered per (kernel, compiler, cache folder), while ``HQCTF_NATIVE`` is checked every time.
    """
    if not native_enabled():
        return None
    compiler_path = compiler()
    key = (kernel.name, compiler_path, str(cache_dir()))
    with _loading:
        if key not in _loaded:
            _loaded[key] = _load_uncached(kernel, declare, compiler_path)
        return _loaded[key]


def _load_uncached(kernel: KernelSource, declare: Callable[[ctypes.CDLL], None],
                   compiler_path: str | None) -> ctypes.CDLL | None:
    if compiler_path is None:
        log.info("no C++ compiler found: the %s kernel is off, its torch path runs instead", kernel.name)
        return None
    try:
        path = library_path(kernel, compiler_path)
        if not path.is_file():
            log.info("building the %s CPU kernel with %s -> %s", kernel.name, compiler_path, path)
            build(kernel, compiler_path, path)
        lib = ctypes.CDLL(str(path))
        version = getattr(lib, kernel.abi_symbol)
        version.restype = ctypes.c_int
        if version() != kernel.abi_version:
            raise RuntimeError(f"{path} has ABI {version()}, expected {kernel.abi_version}")
        declare(lib)
        return lib
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        log.warning("%s CPU kernel unavailable (%s): using the torch path", kernel.name, error)
        return None

"""``aer_simulator`` / ``aer_simulator_gpu``: Aer on CPU / NVIDIA GPU.

Exact (``save_probabilities``) without shots; with shots the forward runs on Aer's SamplerV2 and the gradient's
shots are drawn from Aer's exact probabilities (``SamplerEngine(fast_sampling=True)``; packed runs use the sampler
throughout). GPU needs the ``qiskit-aer-gpu`` package, checked up front. qiskit_aer is imported where used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import BackendUnavailableError, SamplerBackend

if TYPE_CHECKING:
    from .spec import BackendSpec

GPU_OPTIONS = {"device": "GPU", "method": "statevector"}
GPU_HELP = (
    "--backend aer_simulator_gpu needs the qiskit-aer-gpu package (CUDA 12; it replaces qiskit-aer: "
    "pip uninstall qiskit-aer && pip install 'hqctf-qiskit[gpu]') and an NVIDIA GPU, but this Aer offers only "
    "{devices}; to train on a GPU use --backend torch --device cuda"
)


def require_gpu_aer() -> None:
    """Fail fast, with the fix, when this Aer build cannot use a GPU (``device="GPU"`` would fail only at run)."""
    from qiskit_aer import AerSimulator

    devices = tuple(AerSimulator().available_devices())
    if "GPU" not in devices:
        raise BackendUnavailableError(GPU_HELP.format(devices="/".join(devices) or "no device"))


def target(name: str) -> None:
    """Simulators have no device to transpile for: the report shows logical circuits."""
    return None


def open_sampler(spec: BackendSpec, device: Any) -> SamplerBackend:
    """Aer's SamplerV2 (seeded per call) and the simulator, which also runs exact mode."""
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2

    options = dict(GPU_OPTIONS) if spec.name == "aer_simulator_gpu" else {}
    if options:
        require_gpu_aer()
    simulator = AerSimulator(**options)
    sampler = SamplerV2(default_shots=spec.shots or 1024,
                        options={"backend_options": options, "run_options": {"seed_simulator": spec.seed}})

    def reseed(value: int) -> None:
        sampler.options.run_options["seed_simulator"] = value

    return SamplerBackend(spec.name, sampler, simulator, reseed=reseed, engine_options={"fast_sampling": True})

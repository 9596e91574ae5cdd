"""What a training config's circuits cost on a backend: the circuit report for its model, and the run's total.

Shared by ``hqctf circuit-report`` and the cost guard of ``hqctf train`` on IBM hardware, so both count alike; the
numbers per step are the engines' cost model (``engines.cost``), the device comes from ``backends``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..backends.registry import target_backend
from ..config.schema import TrainConfig
from ..engines.cost import JOBS_PER_STEP
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..backends.session import BackendSession
    from .report import CircuitReport, LayerShape

# ibm_* runs above either limit need --yes: a typo in --epochs must not spend a month of hardware time.
GUARD_MAX_SHOTS = 1_000_000
GUARD_MAX_JOBS = 50


def model_layer_shapes(config: TrainConfig) -> list[LayerShape]:
    """The QPG layers ``config`` selects, with the qubit counts training uses (no engines are built)."""
    from ..models import build_model
    from ..qpg.source import layer_qubits
    from ..weightgen.selection import parse_layer_patterns, select_layers
    from .report import LayerShape

    weights = config.weights
    model = build_model(config.model.arch, config.model.encoder, in_channels=1, classes=len(config.data.classes))
    patterns = parse_layer_patterns(weights.qpg_layers)
    if not patterns:
        raise ConfigError("--qpg-layers: 'none' selects no layer, so there is no circuit to report")
    shapes = []
    for name in select_layers(model, patterns):
        weight = model.get_submodule(name).weight
        fan_in = weight[0].numel()
        qubits = layer_qubits(fan_in, weights.mapping, weights.mapping_options())
        shapes.append(LayerShape(name, type(model.get_submodule(name)).__name__, weight.shape[0], fan_in, qubits))
    return shapes


def circuit_report_for(config: TrainConfig, session: BackendSession | None = None) -> CircuitReport:
    """The circuit report of ``config``'s model on its backend (transpiled with the run's seed, as trained).

    ``session``: the run's backend session, whose device is used (a run opens one IBM service, not two); without
    one the device is resolved by name.
    """
    from .report import ReportSettings, build_circuit_report

    backend, weights = config.backend, config.weights
    settings = ReportSettings(backend=backend.name, shots=backend.shots, gradient=backend.gradient,
                              pack=backend.pack, optimization_level=backend.optimization_level,
                              seed_transpiler=config.optim.seed)
    device = session.target if session is not None else target_backend(settings.backend)
    context = {"arch": config.model.arch, "encoder": config.model.encoder, "qpg_layers": weights.qpg_layers,
               "mapping": weights.mapping, "chunk": weights.chunk}
    return build_circuit_report(model_layer_shapes(config), weights.ansatz(), weights.mapping, settings=settings,
                                backend=device, context=context)


def run_cost(config: TrainConfig, steps: int, session: BackendSession | None = None) -> dict[str, Any]:
    """Circuits, shots, sampler jobs and estimated QPU seconds (``qpu_time``; None without a device duration) per
    training step and for ``steps`` steps (one job per layer and pass)."""
    totals = circuit_report_for(config, session).totals()
    kind = "packed" if config.backend.pack else "unpacked"
    circuits = totals["circuits_per_step"][kind]["total"]
    shots = totals["shots_per_step"][kind] or 0
    jobs = JOBS_PER_STEP * totals["layers"]  # forward and backward: one sampler call (one PUB) per QPG layer each
    qpu = totals["qpu_seconds"][kind]
    seconds = None if qpu is None else qpu["per_step"]
    return {
        "steps": steps, "layers": totals["layers"], "packing": config.backend.pack,
        "per_step": {"circuits": circuits, "shots": shots, "jobs": jobs, "qpu_seconds": seconds},
        "run": {"circuits": circuits * steps, "shots": shots * steps, "jobs": jobs * steps,
                "qpu_seconds": None if seconds is None else seconds * steps},
    }


def format_seconds(seconds: float | None) -> str:
    """QPU seconds for a log line or message: whole seconds with separators, ``n/a`` without an estimate."""
    return "n/a" if seconds is None else f"{seconds:,.0f}"


def needs_confirmation(cost: dict[str, Any]) -> bool:
    return cost["run"]["shots"] > GUARD_MAX_SHOTS or cost["run"]["jobs"] > GUARD_MAX_JOBS

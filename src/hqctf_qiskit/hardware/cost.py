"""What a training config's circuits cost on a backend: the circuit report for its model, and the run's total.

Shared by ``hqctf circuit-report`` and the cost guard of ``hqctf train`` on IBM hardware, so both count alike.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from ..config.schema import TrainConfig

# ibm_* runs above either limit need --yes: a typo in --epochs must not spend a month of hardware time.
GUARD_MAX_SHOTS = 1_000_000
GUARD_MAX_JOBS = 50


def model_layer_shapes(config: TrainConfig) -> list[Any]:
    """The QPG layers ``config`` selects, with the qubit counts training uses (no engines are built)."""
    from .report import LayerShape
    from ..models import build_model
    from ..qpg import mapping_class, parse_layer_patterns, select_layers

    model = build_model(config.arch, config.encoder, in_channels=1, classes=len(config.classes))
    patterns = parse_layer_patterns(config.qpg_layers)
    if not patterns:
        raise ValueError("--qpg-layers: 'none' selects no layer, so there is no circuit to report")
    mapping = mapping_class(config.mapping)
    shapes = []
    for name in select_layers(model, patterns):
        weight = model.get_submodule(name).weight
        fan_in = weight[0].numel()
        qubits = mapping.num_qubits_for(fan_in, **config.mapping_options())
        shapes.append(LayerShape(name, type(model.get_submodule(name)).__name__, weight.shape[0], fan_in, qubits))
    return shapes


def resolve_target(name: str) -> Any | None:
    """The backend object to transpile against: the engines' registry when it offers one, else the report's own."""
    registry = f"{__package__.rpartition('.')[0]}.engines.backends"
    resolver = None
    if importlib.util.find_spec(registry) is not None:  # a broken registry must fail loudly, not fall back
        resolver = getattr(importlib.import_module(registry), "target_backend", None)
    if resolver is None:
        from .report import target_backend as resolver
    return resolver(name)


def circuit_report_for(config: TrainConfig) -> Any:
    """The circuit report of ``config``'s model on ``config.backend`` (transpiled with the run's seed, as trained)."""
    from .report import ReportSettings, build_circuit_report

    settings = ReportSettings(backend=config.backend, shots=config.shots, gradient=config.gradient,
                              pack=config.pack, optimization_level=config.optimization_level,
                              seed_transpiler=config.seed)
    backend = resolve_target(settings.backend)
    context = {k: getattr(config, k) for k in ("arch", "encoder", "qpg_layers", "mapping", "chunk")}
    return build_circuit_report(model_layer_shapes(config), config.ansatz(), config.mapping, settings=settings,
                                backend=backend, context=context)


def run_cost(config: TrainConfig, steps: int) -> dict[str, Any]:
    """Circuits, shots and sampler jobs per training step and for ``steps`` steps (one job per layer and pass)."""
    totals = circuit_report_for(config).totals()
    kind = "packed" if config.pack else "unpacked"
    circuits = totals["circuits_per_step"][kind]["total"]
    shots = totals["shots_per_step"][kind] or 0
    jobs = 2 * totals["layers"]  # forward and backward: one sampler call (one PUB) per QPG layer each
    return {
        "steps": steps, "layers": totals["layers"], "packing": config.pack,
        "per_step": {"circuits": circuits, "shots": shots, "jobs": jobs},
        "run": {"circuits": circuits * steps, "shots": shots * steps, "jobs": jobs * steps},
    }


def needs_confirmation(cost: dict[str, Any]) -> bool:
    return cost["run"]["shots"] > GUARD_MAX_SHOTS or cost["run"]["jobs"] > GUARD_MAX_JOBS

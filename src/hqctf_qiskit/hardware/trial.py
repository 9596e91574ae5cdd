"""The cheap, honest hardware experiment: regenerate every QPG layer's weights from a sampler backend.

Forward only: each QPG layer's trained circuit parameters are run once on the backend (B channel circuits per
layer, fewer with packing), the measured probabilities go through the layer's trained mapping, and the resulting
plain model is evaluated next to the exact-weight model.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from torch import nn

from ..qpg.layers import QPGModule

log = logging.getLogger(__name__)


@torch.no_grad()
def sampled_weights(
    model: nn.Module, backend: str, shots: int | None, *, seed: int = 0, pack: bool = False,
    optimization_level: int = 1,
) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Per QPG layer: weights from probabilities measured on ``backend``, and what it cost and how far it is off."""
    from ..backends import make_engine

    engines: dict[int, Any] = {}
    weights: dict[str, torch.Tensor] = {}
    stats: list[dict[str, Any]] = []
    for name, layer in model.named_modules():
        if not isinstance(layer, QPGModule):
            continue
        generator = layer.generator
        n = generator.num_qubits
        if n not in engines:
            options: dict[str, Any] = {"seed": seed}
            if shots is not None:
                options["shots"] = shots
            if backend != "torch":
                options.update(pack=pack, optimization_level=optimization_level)
            engines[n] = make_engine(backend, generator.engine.circuit, **options)
        engine = engines[n]
        started = time.perf_counter()
        theta = generator.theta.detach().cpu()
        measured = engine.probabilities(theta).to(generator.theta)
        exact = generator.probabilities()
        weight = generator.regenerate_from(measured).reshape(layer.weight_shape)
        reference = generator.regenerate_from(exact).reshape(layer.weight_shape)  # no second engine run
        weights[name] = weight
        stats.append({
            "layer": name, "channels": generator.channels, "qubits": n,
            "probability_max_abs_error": float((measured - exact).abs().max()),
            "weight_relative_error": float((weight - reference).norm() / reference.norm().clamp_min(1e-12)),
            "seconds": round(time.perf_counter() - started, 3),
        })
        log.info("%s: %d channels x %d qubits on %s, weight relative error %.3f", name, generator.channels, n,
                 backend, stats[-1]["weight_relative_error"])
    if not stats:
        raise ValueError("--weights-from: this run has no QPG layers (a classical run has nothing to regenerate)")
    return weights, stats

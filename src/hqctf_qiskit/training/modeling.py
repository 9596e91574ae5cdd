"""Build the model a config describes (smp architecture + optional QPG layers) and its optimizer groups."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..models import build_model
from ..qpg import apply_qpg, parse_layer_patterns
from ..qpg.generator import ChannelCircuitGenerator
from ..config.schema import ConfigError, TrainConfig


def _classical_model(config: TrainConfig) -> nn.Module:
    try:
        return build_model(config.arch, config.encoder, in_channels=1, classes=len(config.classes))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def lowrank_budget(config: TrainConfig) -> int:
    """Trainable parameters the low-rank layers may hold: a number, or what QPG puts in the same layers."""
    if config.rank_budget != "qpg":
        return int(config.rank_budget)
    from ..lowrank.apply import replaced_layer_parameters

    probe = _classical_model(config)
    apply_qpg(probe, config.lowrank_layers, config.ansatz(), mapping=config.mapping,
              mapping_options=config.mapping_options())
    return replaced_layer_parameters(probe)


def build_training_model(config: TrainConfig) -> tuple[nn.Module, dict[str, Any] | None]:
    """The model for ``config`` and its parameter report (QPG or low-rank; None for a classical model)."""
    model = _classical_model(config)
    if parse_layer_patterns(config.lowrank_layers):
        from ..lowrank import apply_lowrank

        budget = lowrank_budget(config) if config.rank_budget is not None else None
        try:
            report = apply_lowrank(model, config.lowrank_layers, rank=config.rank, budget=budget)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if parse_layer_patterns(config.qpg_layers):
            _apply_qpg(model, config)  # QPG on other layers than the low-rank ones
        return model, {"kind": "lowrank", **report.to_dict()}
    if not parse_layer_patterns(config.qpg_layers):
        return model, None
    return model, {"kind": "qpg", **_apply_qpg(model, config)}


def _apply_qpg(model: nn.Module, config: TrainConfig) -> dict[str, Any]:
    try:
        report = apply_qpg(
            model, config.qpg_layers, config.ansatz(), mapping=config.mapping, engine=config.backend,
            mapping_options=config.mapping_options(), engine_options=config.engine_options(),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return report.to_dict()


def parameter_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """Circuit and mapping parameters get ``--qpg-lr`` and no weight decay; everything else ``--lr``."""
    qpg_ids = {id(p) for m in model.modules() if isinstance(m, ChannelCircuitGenerator) for p in m.parameters()}
    qpg = [p for p in model.parameters() if id(p) in qpg_ids and p.requires_grad]
    classical = [p for p in model.parameters() if id(p) not in qpg_ids and p.requires_grad]
    groups = [{"params": classical, "lr": config.lr, "weight_decay": config.weight_decay, "name": "classical"}]
    if qpg:
        groups.append({"params": qpg, "lr": config.qpg_lr, "weight_decay": 0.0, "name": "qpg"})
    return groups


def resolve_device(option: str) -> torch.device:
    if option == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here (use --device cpu or auto)")
    if option == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(option)

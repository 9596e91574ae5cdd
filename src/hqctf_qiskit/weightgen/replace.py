"""Swapping selected layers for generated-weight ones, and the parameter report every weight source shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, ClassVar

from torch import nn

from .export import generated_layers
from .layers import GeneratedWeightLayer, generated_layer
from .selection import replace_module
from .source import WeightSource

# make_source(name, replaced layer) -> the weight source for that layer
SourceFactory = Callable[[str, nn.Module], WeightSource]


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def swap_layers(model: nn.Module, names: Sequence[str], make_source: SourceFactory) -> list[GeneratedWeightLayer]:
    """Replace the layers ``names`` of ``model`` in place by generated-weight layers over ``make_source``'s sources.

    Layers are built one at a time in the given order, so sources that draw initial values from the torch RNG draw
    them in model order. Each new layer keeps the train/eval mode of the layer it replaces.
    """
    swapped = []
    for name in names:
        replaced = model.get_submodule(name)
        layer = generated_layer(replaced, make_source(name, replaced))
        layer.train(replaced.training)
        replace_module(model, name, layer)
        swapped.append(layer)
    return swapped


def replaced_layer_parameters(model: nn.Module) -> int:
    """Trainable parameters inside the generated-weight layers (sources and biases): e.g. a QPG model's budget."""
    params = {id(p): p for _, layer in generated_layers(model) for p in layer.parameters() if p.requires_grad}
    return sum(p.numel() for p in params.values())


class ReplacementReport:
    """What swapping layers did to a model's trainable parameters: per-layer rows, totals, the ratio, a table.

    Subclasses are dataclasses holding ``layers`` (rows with a ``name``) and ``classical_trainable`` plus their own
    fields (their ``to_dict`` is what a run writes to ``<kind>_report.json``); they say which row attributes the
    table shows (``columns``: header, attribute, width) and which are summed in ``totals`` (``total_fields``).
    """

    label: ClassVar[str]
    columns: ClassVar[tuple[tuple[str, str, int], ...]]
    total_fields: ClassVar[tuple[str, ...]]
    layers: list[Any]
    classical_trainable: int

    @property
    def generated_trainable(self) -> int:
        """The model's trainable parameters after the swap."""
        raise NotImplementedError

    def settings(self) -> str:
        """How the layers were configured, for the table's last line (e.g. ``mapping affine``, ``rank 3``)."""
        raise NotImplementedError

    @property
    def ratio(self) -> float:
        return self.generated_trainable / self.classical_trainable if self.classical_trainable else float("nan")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["totals"] = {"layers": len(self.layers)}
        data["totals"].update({key: sum(getattr(layer, key) for layer in self.layers) for key in self.total_fields})
        return data

    def format_table(self) -> str:
        head = f"{'layer':<40}" + "".join(f" {title:>{width}}" for title, _, width in self.columns)
        lines = [head, "-" * len(head)]
        for layer in self.layers:
            lines.append(f"{layer.name:<40}" + "".join(f" {getattr(layer, key):>{width}}" for _, key, width in
                                                       self.columns))
        lines.append(
            f"trainable parameters: classical {self.classical_trainable:,} -> {self.label} "
            f"{self.generated_trainable:,} (ratio {self.ratio:.3f}, {self.settings()})"
        )
        return "\n".join(lines)

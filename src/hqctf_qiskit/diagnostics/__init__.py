"""Diagnostics of trained weight sources (torch only): effective ranks of QPG and low-rank weights."""

from .rank import effective_ranks, flatten_ranks, layer_ranks, plot_ranks

__all__ = ["effective_ranks", "flatten_ranks", "layer_ranks", "plot_ranks"]

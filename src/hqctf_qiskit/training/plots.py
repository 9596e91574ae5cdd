"""progress.png: loss and Dice curves per epoch (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io import save_figure


def plot_progress(history: list[dict[str, Any]], class_names: list[str], path: Path) -> None:
    from matplotlib.figure import Figure  # pyplot-free: no global backend is chosen

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_dice = fig.subplots(1, 2)
    ax_loss.plot(epochs, [r["train_loss"] for r in history], label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], label="val")
    ax_loss.set(xlabel="epoch", ylabel="Dice + CE loss", title="loss")
    ax_loss.legend()
    for name in class_names[1:]:
        ax_dice.plot(epochs, [r[f"val_dice_{name}"] for r in history], marker="o", label=name)
    ax_dice.set(xlabel="epoch", ylabel="validation Dice", ylim=(0, 1), title="validation Dice")
    ax_dice.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=90)

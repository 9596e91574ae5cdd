"""Cost of each QPG mapping (probabilities -> weights, forward + backward) on Unet-resnet18's decoder layer shapes.

For every mapping (affine, qt, chunked) and every decoder conv of Unet-resnet18 (C_out x fan_in), it times the mapping
alone: ``mapping(probs)`` and the backward of a fixed random linear loss, float32, torch threads = cores. For ``qt``
it times both the fused CPU kernel (``qpg/mlp_kernel.cpp``) and the mapping's torch form on the same layer in the same
run, checks that they agree, and prints the ratio. Median of k repeats after a warm-up; only meaningful on an idle
machine (another process on one of two cores slows torch several-fold).

Usage::

    python benchmarks/mapping.py [--quick] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from hqctf_qiskit.models import build_model
from hqctf_qiskit.native import mlp as mlp_native
from hqctf_qiskit.qpg.mappings import mapping_class
from hqctf_qiskit.weightgen.selection import select_layers

SEED = 1234


def decoder_shapes() -> list[tuple[str, int, int]]:
    """(name, C_out, fan_in) of the convs QPG replaces by default in Unet-resnet18."""
    model = build_model("unet", "resnet18", classes=3)
    convs = [(name, model.get_submodule(name)) for name in select_layers(model, ["decoder"])]
    return [(name, conv.out_channels, conv.weight[0].numel()) for name, conv in convs]


def time_mapping(name: str, channels: int, fan_in: int, repeats: int, use_native: bool = True):
    """(median seconds of forward + backward, weights) for one mapping on one layer shape."""
    cls = mapping_class(name)
    num_qubits = cls.num_qubits_for(fan_in)
    torch.manual_seed(SEED)
    mapping = cls(channels, fan_in, num_qubits)
    mapping.use_native = use_native
    probs = torch.softmax(torch.randn(channels, 2**num_qubits), dim=1)
    mapping.calibrate(probs, 0.05)
    upstream = torch.randn(channels, fan_in, generator=torch.Generator().manual_seed(SEED))
    times, weights = [], None
    for _ in range(repeats + 1):  # the first one warms up
        p = probs.clone().requires_grad_(True)
        start = time.perf_counter()
        weights = mapping(p)
        (weights * upstream).sum().backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), weights.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 9")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    repeats = 3 if args.quick else 9
    kernel = mlp_native.load_kernel() is not None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, qt kernel: {'yes' if kernel else 'NO'}")
    rows, totals = [], {"affine": 0.0, "qt": 0.0, "qt (torch form)": 0.0, "chunked": 0.0}
    for layer, channels, fan_in in decoder_shapes():
        row = {"layer": layer, "channels": channels, "fan_in": fan_in}
        for name in ("affine", "qt", "chunked"):
            row[name], weights = time_mapping(name, channels, fan_in, repeats)
            if name == "qt":
                row["qt (torch form)"], reference = time_mapping(name, channels, fan_in, repeats, use_native=False)
                scale = reference.abs().max().item()
                row["qt max |diff| / max |w|"] = (weights - reference).abs().max().item() / scale
        for key in totals:
            totals[key] += row[key]
        rows.append(row)
        print(f"{layer:<34} {channels:>4} x {fan_in:<5} affine {row['affine'] * 1e3:7.2f} ms   "
              f"qt {row['qt'] * 1e3:7.2f} ms (torch form {row['qt (torch form)'] * 1e3:7.2f} ms, "
              f"{row['qt (torch form)'] / row['qt']:.1f}x)   chunked {row['chunked'] * 1e3:7.2f} ms")
    ratio = totals["qt (torch form)"] / totals["qt"]
    print("\n| mapping | decoder total, fwd+bwd (ms) |\n|---|---:|")
    for key, seconds in totals.items():
        print(f"| {key} | {seconds * 1e3:.1f} |")
    print(f"\nqt: torch form / fused kernel = {ratio:.1f}x over the decoder"
          + ("" if kernel else " (no kernel on this machine: both columns are the torch form)"))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "totals": totals, "qt_ratio": ratio, "kernel": kernel}, handle, indent=2)


if __name__ == "__main__":
    main()

"""QPG in a few lines: wrap an smp model's decoder convs, train a few steps, export a plain model.

Run: .venv/bin/python examples/qpg_quickstart.py
"""

import torch

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.models import build_model
from hqctf_qiskit.qpg import apply_qpg
from hqctf_qiskit.weightgen import export_plain


def main() -> None:
    torch.manual_seed(0)
    model = build_model("unet", "resnet18", in_channels=1, classes=3)
    report = apply_qpg(model, ["decoder"], AnsatzSpec(reps=2), mapping="affine")
    print(report.format_table())

    images = torch.rand(4, 1, 64, 64)
    labels = (images[:, 0] > 0.6).long() + (images[:, 0] > 0.9).long()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(5):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        print(f"step {step}: loss {loss.item():.4f}")

    model.eval()
    plain = export_plain(model).eval()
    with torch.no_grad():
        diff = (model(images) - plain(images)).abs().max().item()
    print(f"exported plain smp model; max |QPG - exported| = {diff:.2e}")


if __name__ == "__main__":
    main()

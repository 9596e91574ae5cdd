"""Export and predict: a plain model that predicts on the input's own grid without qiskit; nothing overwritten."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from helpers import hqctf_here

pytestmark = pytest.mark.slow


def test_export_predict_round_trip_without_qiskit(tmp_path, tiny_run, tiny_phantom):
    export = tmp_path / "export"
    hqctf_here("export", str(tiny_run), str(export))
    meta = json.loads((export / "model.json").read_text())
    assert meta["arch"] == "unet" and meta["classes"] == ["background", "kidney", "tumor"]

    # a non-RAS input: the prediction must come back on the input's own grid and affine
    source = nib.load(tiny_phantom / "case_00000" / "imaging.nii.gz")
    flipped = nib.Nifti1Image(np.asarray(source.dataobj)[::-1].copy(), source.affine @ np.diag([-1, 1, 1, 1]))
    flipped.affine[0, 3] = source.affine[0, 3] + source.affine[0, 0] * (source.shape[0] - 1)
    lps = tmp_path / "input_flipped.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(flipped.dataobj), flipped.affine), lps)

    from_run, from_export = tmp_path / "from_run.nii.gz", tmp_path / "from_export.nii.gz"
    hqctf_here("predict", str(tiny_run), str(lps), str(from_run))
    script = (
        "import sys; from hqctf_qiskit.cli.main import main\n"
        f"try: main(['predict', {str(export)!r}, {str(lps)!r}, {str(from_export)!r}])\n"
        "except SystemExit as e: assert e.code in (0, None)\n"
        "bad = [m for m in sys.modules if m.split('.')[0].startswith('qiskit')]\n"
        "print('QISKIT', bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

    a, b = nib.load(from_run), nib.load(from_export)
    assert a.shape == nib.load(lps).shape and np.allclose(a.affine, nib.load(lps).affine)
    assert a.get_data_dtype() == np.uint8 and int(a.header["sform_code"]) > 0
    assert np.array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj))
    # same labels as predicting the un-flipped original, flipped back: orientation handled, not ignored
    original = tmp_path / "from_original.nii.gz"
    hqctf_here("predict", str(export), str(tiny_phantom / "case_00000" / "imaging.nii.gz"), str(original))
    assert np.array_equal(np.asarray(nib.load(original).dataobj)[::-1], np.asarray(a.dataobj))


def test_predict_refuses_to_overwrite(tmp_path, tiny_run, tiny_phantom):
    out = tmp_path / "pred.nii.gz"
    out.write_bytes(b"precious")
    result = hqctf_here("predict", str(tiny_run), str(tiny_phantom / "case_00001" / "imaging.nii.gz"), str(out),
                        check=False)
    assert result.returncode != 0 and "already exists" in result.stderr
    assert out.read_bytes() == b"precious"

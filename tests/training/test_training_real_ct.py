"""The real CT fixture (TotalSegmentator example, kidney labels 2 and 3): load, train briefly, predict round trip."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from helpers import REAL_CT_DIR, hqctf, hqctf_here, requires_real_ct

pytestmark = [requires_real_ct, pytest.mark.slow]


def test_real_ct_short_training_and_predict_round_trip(tmp_path):
    image, label = REAL_CT_DIR / "example_ct_sm.nii.gz", REAL_CT_DIR / "example_seg.nii.gz"
    # one patient only: list it twice (train and val see the same scan; this checks plumbing, not generalization)
    listing = tmp_path / "cases.csv"
    listing.write_text(f"image,label,case_id\n{image},{label},ct_a\n{image},{label},ct_b\n")
    run = tmp_path / "run"
    hqctf("train", "--data", str(listing), "--label-map", "2:1,3:1", "--classes", "background,kidney",
          "--val-fraction", "0.5", "--test-fraction", "0", "--patch-size", "64", "--batch-size", "4",
          "--samples-per-epoch", "8", "--epochs", "1", "--reps", "1", "--device", "cpu", "--out", str(run))
    assert (run / "checkpoint_final.pt").is_file()
    out = tmp_path / "pred.nii.gz"
    hqctf_here("predict", str(run), str(image), str(out))
    source, pred = nib.load(image), nib.load(out)
    assert pred.shape == source.shape
    np.testing.assert_allclose(pred.affine, source.affine, atol=1e-6)
    assert set(np.unique(np.asarray(pred.dataobj))) <= {0, 1}

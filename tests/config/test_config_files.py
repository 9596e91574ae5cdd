"""Config files: a run folder's flat config.yaml (as written before sections existed, and now) and --config files."""

from pathlib import Path

import pytest
import yaml

from hqctf_qiskit.config import (
    ConfigError,
    TrainConfig,
    load_run_config,
    options_file,
    read_yaml_mapping,
    save_config,
)
from hqctf_qiskit.errors import RunFolderError

BEFORE_SECTIONS = Path(__file__).parent / "data" / "config_before_sections.yaml"


def test_a_config_yaml_written_before_sections_loads(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(BEFORE_SECTIONS.read_text())
    config = load_run_config(run)
    assert config.data.source == "data/kits" and config.data.window == [-100.0, 250.0]
    assert config.weights.lowrank_layers == "decoder" and config.weights.rank_budget == 1234
    assert config.optim.epochs == 3 and config.backend.name == "torch"


def test_a_run_config_from_before_spacing_keeps_the_legacy_squeeze(tmp_path):
    """Its slices were squeezed whole to image_size (now patch_size): a missing spacing means 'none' so that
    predict and resume treat the run as it was trained, not at a median spacing it never saw."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(BEFORE_SECTIONS.read_text())
    data = load_run_config(run).data
    assert (data.patch_size, data.spacing, data.inplane_spacing) == (128, "none", None)
    (run / "config.yaml").write_text(BEFORE_SECTIONS.read_text() + "spacing: 0.8\n")
    assert load_run_config(run).data.inplane_spacing == 0.8
    assert TrainConfig().data.spacing == "auto", "a new run resolves it from its cases"


def test_saved_config_keeps_the_flat_layout_and_round_trips(tmp_path):
    renamed = {"image_size": "patch_size"}  # options renamed since; their old name is still read
    old = {renamed.get(k, k): v for k, v in yaml.safe_load(BEFORE_SECTIONS.read_text()).items()}
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(BEFORE_SECTIONS.read_text())
    config = load_run_config(run)
    again = tmp_path / "again"
    again.mkdir()
    save_config(config, again / "config.yaml")
    written = yaml.safe_load((again / "config.yaml").read_text())
    # same flat keys in the same order, versions block last; options added since then come after the old ones
    assert [k for k in written if k in old] == list(old) and list(written)[-1] == "versions"
    assert set(written) - set(old) <= {"structures", "folds", "fold", "encoder_weights", "augment", "workers",
                                       "noise", "mitigation", "twirling", "dd", "spacing",
                                       "generator"}
    assert written["spacing"] == "none"
    assert set(written["versions"]) == set(old["versions"])
    assert {k: v for k, v in written.items() if k in old and k not in ("versions", "rank_budget")} == {
        k: v for k, v in old.items() if k not in ("versions", "rank_budget")}
    assert int(old["rank_budget"]) == written["rank_budget"]
    assert load_run_config(again) == config


def test_a_bad_value_in_a_run_config_names_the_file_and_key(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(BEFORE_SECTIONS.read_text().replace("epochs: 3", "epochs: 1.5"))
    with pytest.raises(ConfigError, match=rf"^{run / 'config.yaml'}: epochs: must be a whole number, got 1.5$"):
        load_run_config(run)
    with pytest.raises(RunFolderError, match="not a run folder"):
        load_run_config(tmp_path)


def test_options_file_accepts_dashes_and_drops_a_versions_block(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("arch: fpn\nqpg-layers: none\nepochs: 3\nversions: {torch: '2'}\n")
    values, where = options_file(path)
    assert values == {"arch": "fpn", "qpg-layers": "none", "epochs": 3}
    assert where == f"--config: {path}"
    assert TrainConfig.from_flat(values, source=where).weights.qpg_layers == "none"


@pytest.mark.parametrize("text, message", [("arch: [unclosed\n", "not valid YAML"),
                                           ("- a\n- b\n", "must hold a mapping")])
def test_malformed_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        options_file(path)
    with pytest.raises(ConfigError, match="does not exist"):
        read_yaml_mapping(tmp_path / "missing.yaml", "--config: ", "option: value")


def test_example_config_is_valid():
    from helpers import REPO_ROOT

    values, where = options_file(REPO_ROOT / "examples" / "train_small.yaml")
    config = TrainConfig.from_flat(values, source=where)
    assert config.weights.mapping == "chunked" and config.data.patch_size == 96

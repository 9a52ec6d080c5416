"""Checkpoints: exact float32 round trip, float16 files that load as float32, clear errors."""

from __future__ import annotations

import pytest
import torch
from lm_helpers import TINY

from skillgym.models import CausalTransformer, load_checkpoint, save_checkpoint


def test_float32_round_trip_is_exact(tmp_path):
    torch.manual_seed(0)
    model = CausalTransformer(TINY)
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "model.pt"))
    assert loaded.config == model.config
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)
    ids = torch.tensor([[257, 72, 105, 33]])
    with torch.no_grad():
        assert torch.equal(loaded(ids), model(ids))


def test_half_file_loads_as_float32_with_rounded_weights(tmp_path):
    torch.manual_seed(0)
    model = CausalTransformer(TINY).double()  # saving converts whatever the dtype
    full = save_checkpoint(model, tmp_path / "full.pt")
    half = save_checkpoint(model, tmp_path / "half.pt", half=True)
    loaded = load_checkpoint(half)
    for name, tensor in model.state_dict().items():
        assert loaded.state_dict()[name].dtype == torch.float32
        assert torch.equal(loaded.state_dict()[name], tensor.half().float())
    assert half.stat().st_size < 0.6 * full.stat().st_size


def test_default_model_ships_in_under_5_mb(tmp_path):
    path = save_checkpoint(CausalTransformer(), tmp_path / "default.pt", half=True)
    assert path.stat().st_size < 5e6
    assert load_checkpoint(path).num_parameters() == 824_832


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model checkpoint at"):
        load_checkpoint(tmp_path / "absent.pt")


def test_corrupt_or_foreign_files_raise_value_error(tmp_path):
    good = save_checkpoint(CausalTransformer(TINY), tmp_path / "good.pt").read_bytes()
    cases = {
        "garbage.pt": b"not a checkpoint at all",
        "truncated.pt": good[: len(good) // 2],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match="not a readable model checkpoint"):
            load_checkpoint(tmp_path / name)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a model checkpoint of format"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_weights_that_do_not_fit_the_config_raise_value_error(tmp_path):
    path = save_checkpoint(CausalTransformer(TINY), tmp_path / "model.pt")
    data = torch.load(path, weights_only=True)
    data["config"]["d_model"] = 64
    torch.save(data, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="damaged model checkpoint"):
        load_checkpoint(tmp_path / "mismatch.pt")
    data["config"] = {"d_model": 32, "colour": "red"}
    torch.save(data, tmp_path / "unknown.pt")
    with pytest.raises(ValueError, match="damaged model checkpoint"):
        load_checkpoint(tmp_path / "unknown.pt")

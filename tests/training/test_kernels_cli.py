"""``skillgym kernels``: inspecting and clearing the tuned layouts of the policy kernel."""

from __future__ import annotations

import pytest

from skillgym.kernels import DEFAULT_TILING, Tiling, TuningCache, select_device
from skillgym.training.cli import main


@pytest.fixture
def kernel_cache(tmp_path, monkeypatch):
    """An empty kernel cache folder of the test's own."""
    monkeypatch.setenv("SKILLGYM_KERNEL_CACHE", str(tmp_path))
    return tmp_path


def test_show_lists_the_cached_layouts_and_clear_forgets_them(kernel_cache, monkeypatch, capsys):
    # No device: PoCL would keep its cache in this folder, which the test then removes.
    monkeypatch.setenv("SKILLGYM_OPENCL", "off")
    cache = TuningCache()
    assert cache.path == kernel_cache / "tuning.json"
    cache.put("a", Tiling(16, 6, 1), {Tiling(16, 6, 1): 1.0e-3, DEFAULT_TILING: 1.5e-3},
              "some device", network="obs 4", batch=4096, masks=True, sample=False)
    assert main(["kernels", "show"]) == 0
    out = capsys.readouterr().out
    assert "device: none (the numpy path)" in out and f"cache: {kernel_cache}" in out
    assert "tuned layouts cached: 1" in out
    assert "- float16 6x1 for obs 4, batch 4096, masks yes, sample no" in out
    assert "2 layouts timed, fastest: float16 6x1 1,000 µs, float8 4x2 1,500 µs" in out

    (kernel_cache / "program.bin").write_bytes(b"built")
    assert main(["kernels", "clear"]) == 0
    assert "forgot 1 tuned layout(s)" in capsys.readouterr().out
    assert TuningCache().entries() == {} and (kernel_cache / "program.bin").exists()
    assert main(["kernels", "clear", "--programs"]) == 0
    assert not (kernel_cache / "program.bin").exists()


def test_show_measures_the_peak_at_each_width(kernel_cache, capsys):
    if select_device("auto") is None:
        pytest.skip("no OpenCL platform on this machine")
    assert main(["kernels", "show", "--peak"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("FMA peak, float")]
    assert [line.split(":")[0] for line in lines] == [
        "FMA peak, float4", "FMA peak, float8", "FMA peak, float16"]
    assert sum("the device's own width" in line for line in lines) == 1


def test_a_bad_tuning_mode_is_one_line(kernel_cache, monkeypatch, capsys):
    monkeypatch.setenv("SKILLGYM_KERNEL_TUNING", "sometimes")
    assert main(["kernels", "show"]) == 2
    assert "SKILLGYM_KERNEL_TUNING must be one of ('auto', 'off')" in capsys.readouterr().err

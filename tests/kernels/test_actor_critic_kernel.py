"""The fused actor-critic kernel (and its numpy path) against a float64 torch oracle."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from kernel_oracle import oracle, random_weights

from skillgym.kernels import ActorCriticKernel, CodedObs, InputLayout, NetworkSpec, Tiling
from skillgym.kernels.tuning import BLOCKS, SEARCH_TILES, SEARCH_WIDTHS

SPECS = {
    "sb3-default": NetworkSpec(64, (64, 64), (64, 64), (8,)),
    "odd-widths-relu": NetworkSpec(13, (37, 5), (70,), (3,), activation="relu"),
    "multidiscrete": NetworkSpec(9, (24,), (24, 24), (3, 5, 2)),
    "linear-heads": NetworkSpec(6, (), (), (17,)),
    "wide": NetworkSpec(40, (200,), (33,), (2, 40)),
}
BATCHES = (1, 5, 64, 1000, 4097)
# Chi-square critical values at p = 0.001, by degrees of freedom.
CHI2_CRITICAL = {1: 10.828, 2: 13.816, 4: 18.467, 7: 24.322, 39: 72.055}
POISON = np.float32(np.nan)


def make_kernel(spec, device_choice, seed=0, **kwargs):
    weights = random_weights(spec, np.random.default_rng(seed))
    # min_kernel_batch=0: every batch size goes through the OpenCL kernel when there is one.
    kernel = ActorCriticKernel(spec, weights, device=device_choice, min_kernel_batch=0, **kwargs)
    return kernel, weights


def poison_outputs(kernel, batch):
    """Fill the kernel's whole output arrays with NaN / -7, so unwritten elements show."""
    kernel._reserve(batch)
    for shared in (kernel._log_prob, kernel._values, kernel._log_probs):
        shared.host[...] = POISON
    kernel._actions.host[...] = -7
    return kernel._actions.host


def head_argmax(spec, scores):
    starts = spec.head_starts
    heads = [scores[:, starts[h] : starts[h + 1]].argmax(1) for h in range(spec.n_heads)]
    return np.stack(heads, 1)


def chosen_log_prob(spec, log_probs, actions):
    rows = np.arange(len(actions))
    return sum(log_probs[rows, spec.head_starts[h] + actions[:, h]] for h in range(spec.n_heads))


@pytest.mark.parametrize("name", SPECS)
def test_matches_float64_oracle(name, device_choice):
    spec = SPECS[name]
    kernel, weights = make_kernel(spec, device_choice)
    rng = np.random.default_rng(1)
    for batch in BATCHES:
        obs = rng.normal(size=(batch, spec.obs_dim)).astype(np.float32)
        actions_host = poison_outputs(kernel, batch) if kernel.uses_opencl else None
        out = kernel(obs, return_log_probs=True)
        log_probs, values = oracle(spec, weights, obs)
        np.testing.assert_allclose(out.log_probs, log_probs, atol=1e-5, rtol=0)
        np.testing.assert_allclose(out.values, values, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(out.actions, head_argmax(spec, log_probs))
        np.testing.assert_allclose(
            out.log_prob, chosen_log_prob(spec, log_probs, out.actions), atol=1e-5, rtol=0
        )
        if actions_host is not None:  # nothing written past the batch
            assert (actions_host[batch:] == -7).all()


def covering_layouts():
    """Layouts covering every pair of (vector width, tile, block) values the tuner searches,
    with twice the work-items on some, and the narrow widths it does not search."""
    layouts = []
    for i, width in enumerate(SEARCH_WIDTHS):
        for j, tile in enumerate(SEARCH_TILES):
            block = BLOCKS[(i + j) % len(BLOCKS)]
            layouts.append(Tiling(width, tile, block, work_items=4 if j == 0 else None))
    missing = {(t, b) for t in SEARCH_TILES for b in BLOCKS} - {(t.tile, t.block) for t in layouts}
    layouts += [Tiling(8, tile, block) for tile, block in sorted(missing)]
    return layouts + [Tiling(1, 2, 3), Tiling(2, 1, 1)]


@pytest.mark.parametrize("tiling", covering_layouts(), ids=lambda t: t.label)
def test_every_layout_matches_oracle(opencl_device, tiling):
    spec = SPECS["wide"]
    kernel, weights = make_kernel(spec, "auto", tiling=tiling)
    rng = np.random.default_rng(16)
    obs = rng.normal(size=(301, spec.obs_dim)).astype(np.float32)
    out = kernel(obs, return_log_probs=True)
    log_probs, values = oracle(spec, weights, obs)
    assert kernel.tiling == tiling
    np.testing.assert_allclose(out.log_probs, log_probs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out.values, values, atol=1e-5, rtol=0)
    # Under masks, without every log-probability, the head computes only the allowed vectors.
    masks = rng.random((301, spec.n_logits)) < 0.1
    masks[:, spec.head_starts[:-1]] = True  # every component allows an action
    masked = kernel(obs, masks=masks)
    log_probs, _ = oracle(spec, weights, obs, masks)
    np.testing.assert_array_equal(masked.actions, head_argmax(spec, log_probs))
    np.testing.assert_allclose(
        masked.log_prob, chosen_log_prob(spec, log_probs, masked.actions), atol=1e-5, rtol=0
    )


def test_simt_baseline_matches_oracle(opencl_device):
    for name in ("sb3-default", "multidiscrete", "odd-widths-relu"):
        spec = SPECS[name]
        kernel, weights = make_kernel(spec, "auto", variant="simt")
        for batch in (1, 37):
            obs = np.random.default_rng(2).normal(size=(batch, spec.obs_dim)).astype(np.float32)
            poison_outputs(kernel, batch)
            out = kernel(obs, return_log_probs=True)
            log_probs, values = oracle(spec, weights, obs)
            np.testing.assert_allclose(out.log_probs, log_probs, atol=1e-5, rtol=0)
            np.testing.assert_allclose(out.values, values, atol=1e-5, rtol=0)
            np.testing.assert_array_equal(out.actions, head_argmax(spec, log_probs))


@pytest.mark.parametrize("name", ["sb3-default", "multidiscrete", "wide"])
def test_sampling_follows_the_categorical_distribution(name, device_choice):
    spec = SPECS[name]
    kernel, weights = make_kernel(spec, device_choice, seed=3)
    draws = 100_000
    # Weights scaled up so that the distribution is far from uniform.
    kernel.set_weights([(4 * w, b) for w, b in weights])
    row = np.random.default_rng(4).normal(size=(1, spec.obs_dim)).astype(np.float32)
    obs = np.repeat(row, draws, axis=0)
    uniforms = np.random.default_rng(5).random((draws, spec.n_heads), dtype=np.float32)
    out = kernel(obs, uniforms=uniforms)
    probs = np.exp(oracle(spec, [(4 * w, b) for w, b in weights], row)[0][0])
    starts = spec.head_starts
    for h, n in enumerate(spec.action_dims):
        expected = draws * probs[starts[h] : starts[h + 1]]
        counts = np.bincount(out.actions[:, h], minlength=n)
        chi2 = ((counts - expected) ** 2 / expected).sum()
        assert chi2 < CHI2_CRITICAL[n - 1], (h, counts, expected)
        assert expected.max() / expected.min() > 2  # the test would see a uniform sampler


@pytest.mark.parametrize("name", ["sb3-default", "multidiscrete", "wide"])
def test_masked_actions_are_never_chosen(name, device_choice):
    spec = SPECS[name]
    kernel, weights = make_kernel(spec, device_choice, seed=6)
    rng = np.random.default_rng(7)
    batch = 3000
    obs = rng.normal(size=(batch, spec.obs_dim)).astype(np.float32)
    masks = rng.random((batch, spec.n_logits)) < 0.3
    for h, n in enumerate(spec.action_dims):  # at least one legal choice per component
        masks[np.arange(batch), spec.head_starts[h] + rng.integers(n, size=batch)] = True
    log_probs, values = oracle(spec, weights, obs, masks)
    greedy = kernel(obs, masks=masks, return_log_probs=True)
    uniforms = rng.random((batch, spec.n_heads), dtype=np.float32)
    sampled = kernel(obs, masks=masks, uniforms=uniforms)
    for out in (greedy, sampled):
        for h in range(spec.n_heads):
            assert masks[np.arange(batch), spec.head_starts[h] + out.actions[:, h]].all()
        np.testing.assert_allclose(
            out.log_prob, chosen_log_prob(spec, log_probs, out.actions), atol=1e-5, rtol=0
        )
    np.testing.assert_allclose(greedy.log_probs[masks], log_probs[masks], atol=1e-5, rtol=0)
    assert (greedy.log_probs[~masks] < -1e7).all()
    np.testing.assert_array_equal(greedy.actions, head_argmax(spec, log_probs))
    np.testing.assert_allclose(greedy.values, values, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["sb3-default", "odd-widths-relu"])
def test_mostly_zero_observations_match_oracle(name, device_choice):
    # One-hot-like rows: the observation layers run over the inputs that are non-zero in
    # some row of a tile (whole vectors of them at once where the width allows).
    spec = SPECS[name]
    kernel, weights = make_kernel(spec, device_choice, seed=16)
    rng = np.random.default_rng(17)
    batch = 1003
    obs = np.zeros((batch, spec.obs_dim), np.float32)
    obs[np.arange(batch), rng.integers(spec.obs_dim, size=batch)] = 1.0
    obs[: batch // 2, :3] = rng.normal(size=(batch // 2, 3))  # dense in the first half
    log_probs, values = oracle(spec, weights, obs)
    out = kernel(obs, return_log_probs=True)
    np.testing.assert_allclose(out.log_probs, log_probs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out.values, values, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(out.actions, head_argmax(spec, log_probs))


@pytest.mark.parametrize("hidden", [(16,), ()], ids=["hidden", "linear"])
def test_sparse_masks_leave_whole_vectors_of_logits_masked(hidden, device_choice):
    # A few allowed actions per sample, in a different place for each: most vectors of
    # logits hold no allowed action in a tile, and the kernel skips computing them. The
    # last samples allow nothing (MaskablePPO: uniform over every action).
    spec = NetworkSpec(10, hidden, (16,), (70,))
    kernel, weights = make_kernel(spec, device_choice, seed=14)
    rng = np.random.default_rng(15)
    batch = 1001
    obs = rng.normal(size=(batch, spec.obs_dim)).astype(np.float32)
    masks = np.zeros((batch, spec.n_logits), bool)
    starts = rng.integers(0, spec.n_logits - 3, size=batch)
    for offset in range(3):
        masks[np.arange(batch), starts + offset] = rng.random(batch) < 0.7
    masks[np.arange(batch), starts] = True
    masks[-3:] = False
    log_probs, values = oracle(spec, weights, obs, masks)
    greedy = kernel(obs, masks=masks, return_log_probs=True)
    # Without every log-probability asked for, the kernel visits only the vectors of logits
    # with an allowed action in the tile.
    greedy_listed = kernel(obs, masks=masks)
    np.testing.assert_array_equal(greedy_listed.actions, greedy.actions)
    sampled = kernel(obs, masks=masks, uniforms=rng.random((batch, 1), dtype=np.float32))
    allowed = masks[:-3]
    for out in (greedy, greedy_listed, sampled):
        assert allowed[np.arange(batch - 3), out.actions[:-3, 0]].all()
        np.testing.assert_allclose(
            out.log_prob, chosen_log_prob(spec, log_probs, out.actions), atol=1e-5, rtol=0
        )
        np.testing.assert_allclose(out.values, values, atol=1e-5, rtol=0)
    scored = masks | ~masks.any(1, keepdims=True)  # float32 cannot hold -1e8 - log(sum)
    np.testing.assert_allclose(greedy.log_probs[scored], log_probs[scored], atol=1e-5, rtol=0)
    assert (greedy.log_probs[~scored] < -1e7).all()
    np.testing.assert_array_equal(greedy.actions, head_argmax(spec, log_probs))


def test_values_left_out_skip_the_value_mlp(device_choice):
    # Acting needs no values: without them the actions and log-probabilities are the same, and
    # the values buffer is not written (by either kernel).
    spec = SPECS["sb3-default"]
    rng = np.random.default_rng(18)
    batch = 203
    obs = rng.normal(size=(batch, spec.obs_dim)).astype(np.float32)
    masks = rng.random((batch, spec.n_logits)) < 0.5
    uniforms = rng.random((batch, 1), dtype=np.float32)
    for variant in ("simd", "simt") if device_choice != "off" else ("simd",):
        kernel, _ = make_kernel(spec, device_choice, seed=17, variant=variant)
        full = kernel(obs, masks=masks, uniforms=uniforms)
        if kernel.uses_opencl:
            poison_outputs(kernel, batch)
        acting = kernel(obs, masks=masks, uniforms=uniforms, return_values=False)
        assert acting.values is None
        np.testing.assert_array_equal(acting.actions, full.actions)
        np.testing.assert_array_equal(acting.log_prob, full.log_prob)
        if kernel.uses_opencl:
            assert np.isnan(kernel._values.host).all()


def test_kernel_and_numpy_path_agree_on_samples(opencl_device):
    spec = SPECS["multidiscrete"]
    weights = random_weights(spec, np.random.default_rng(8))
    rng = np.random.default_rng(9)
    obs = rng.normal(size=(500, spec.obs_dim)).astype(np.float32)
    uniforms = rng.random((500, spec.n_heads), dtype=np.float32)
    on_device = ActorCriticKernel(spec, weights, device="auto", min_kernel_batch=0)
    dispatched = ActorCriticKernel(spec, weights, device="auto", min_kernel_batch=501)
    numpy_only = ActorCriticKernel(spec, weights, device="off")
    outs = [k(obs, uniforms=uniforms) for k in (on_device, dispatched, numpy_only)]
    for out in outs[1:]:
        np.testing.assert_array_equal(out.actions, outs[0].actions)
        np.testing.assert_allclose(out.log_prob, outs[0].log_prob, atol=1e-5, rtol=0)
        np.testing.assert_allclose(out.values, outs[0].values, atol=1e-5, rtol=0)


def test_a_generator_draws_the_same_uniforms_as_an_array(device_choice):
    spec = SPECS["multidiscrete"]
    kernel, _ = make_kernel(spec, device_choice)
    obs = np.random.default_rng(12).normal(size=(700, spec.obs_dim)).astype(np.float32)
    uniforms = np.random.default_rng(13).random((700, spec.n_heads), dtype=np.float32)
    from_array = kernel(obs, uniforms=uniforms)
    from_generator = kernel(obs, uniforms=np.random.default_rng(13))
    np.testing.assert_array_equal(from_generator.actions, from_array.actions)
    greedy = kernel(obs)
    assert (from_array.actions != greedy.actions).any()


def test_devices_without_shared_memory_use_buffers_and_copies(opencl_device):
    spec = SPECS["multidiscrete"]
    weights = random_weights(spec, np.random.default_rng(14))
    no_svm = dataclasses.replace(opencl_device, fine_grained_svm=False)
    kernel = ActorCriticKernel(spec, weights, device=no_svm, min_kernel_batch=0)
    rng = np.random.default_rng(15)
    for batch in (3, 300, 100):  # grows, then reuses the buffers
        obs = rng.normal(size=(batch, spec.obs_dim)).astype(np.float32)
        masks = rng.random((batch, spec.n_logits)) < 0.7
        masks[:, [0, 3, 8]] = True
        out = kernel(obs, masks=masks, return_log_probs=True)
        log_probs, values = oracle(spec, weights, obs, masks)
        np.testing.assert_allclose(out.log_probs[masks], log_probs[masks], atol=1e-5, rtol=0)
        np.testing.assert_allclose(out.values, values, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(out.actions, head_argmax(spec, log_probs))


@pytest.mark.parametrize("host_memory", [True, False], ids=["in-place", "staged"])
def test_observations_read_in_place_or_staged(opencl_device, host_memory):
    # A CPU device reads C-contiguous observations where they lie; other arrays (and other
    # devices) go through the staging buffer. Both give the oracle's numbers, call after call,
    # and relaunch() reads the last call's observations.
    spec = SPECS["sb3-default"]
    weights = random_weights(spec, np.random.default_rng(19))
    device = dataclasses.replace(opencl_device, host_memory=host_memory)
    kernel = ActorCriticKernel(spec, weights, device=device, min_kernel_batch=0)
    rng = np.random.default_rng(20)
    wide = rng.normal(size=(301, 2 * spec.obs_dim)).astype(np.float32)
    read_only = rng.normal(size=(77, spec.obs_dim)).astype(np.float32)
    read_only.flags.writeable = False
    for obs in (wide[:, : spec.obs_dim], np.ascontiguousarray(wide[:, spec.obs_dim :]),
                read_only, np.asfortranarray(wide[:40, :: 2])):
        out = kernel(obs, return_log_probs=True)
        log_probs, values = oracle(spec, weights, np.array(obs))  # torch wants writable arrays
        np.testing.assert_allclose(out.log_probs, log_probs, atol=1e-5, rtol=0)
        np.testing.assert_allclose(out.values, values, atol=1e-5, rtol=0)
    kernel._values.host[...] = POISON
    kernel.relaunch()
    np.testing.assert_allclose(kernel._values.host[:40], values, atol=1e-5, rtol=0)


def test_set_weights_changes_the_results(device_choice):
    spec = SPECS["odd-widths-relu"]
    kernel, _ = make_kernel(spec, device_choice)
    new_weights = random_weights(spec, np.random.default_rng(10))
    kernel.set_weights(new_weights)
    obs = np.random.default_rng(11).normal(size=(300, spec.obs_dim)).astype(np.float32)
    np.testing.assert_allclose(
        kernel(obs, return_log_probs=True).log_probs, oracle(spec, new_weights, obs)[0], atol=1e-5
    )


def test_bad_inputs_are_rejected(device_choice):
    spec = SPECS["multidiscrete"]
    kernel, weights = make_kernel(spec, device_choice)
    obs = np.zeros((4, spec.obs_dim), np.float32)
    with pytest.raises(ValueError, match=r"obs must have shape \[batch, 9\]"):
        kernel(np.zeros((4, 8), np.float32))
    with pytest.raises(ValueError, match="masks must have shape"):
        kernel(obs, masks=np.ones((4, 9), bool))
    with pytest.raises(ValueError, match="uniforms must have shape"):
        kernel(obs, uniforms=np.ones((4, 9), np.float32))
    with pytest.raises(ValueError, match=r"weights\[0\] must have shapes \(24, 9\)"):
        kernel.set_weights([(w.T, b) for w, b in weights])
    with pytest.raises(ValueError, match="weights must hold 5"):
        kernel.set_weights(weights[:-1])
    with pytest.raises(RuntimeError, match="relaunch"):
        ActorCriticKernel(spec, weights, device=device_choice).relaunch()  # nothing launched yet
    for kwargs, message in (
        ({"variant": "simd2"}, "variant must be one of"),
        ({"tiling": "fastest"}, r"tiling must be a Tiling, one of \('auto', 'default'\)"),
        ({"min_kernel_batch": -1}, "min_kernel_batch must be >= 0"),
    ):
        with pytest.raises(ValueError, match=message):
            ActorCriticKernel(spec, weights, device=device_choice, **kwargs)


CODED_SPEC = NetworkSpec(30, (37, 16), (24,), (7, 3))
# Codes for inputs 0-1, 3-9, 11-19, 20-28 (one per categorical entry); dense inputs 2, 10, 29.
CODED_LAYOUT = InputLayout(30, 4, (2, 10, 29))


def coded_batch(batch, rng):
    codes = np.stack(
        [rng.integers(lo, hi, batch) for lo, hi in ((0, 2), (3, 10), (11, 20), (20, 29))], 1
    )
    return CodedObs(codes.astype(np.int32), rng.normal(size=(batch, 3)).astype(np.float32))


def test_coded_inputs_match_float64_oracle(device_choice):
    kernel, weights = make_kernel(CODED_SPEC, device_choice, layout=CODED_LAYOUT)
    rng = np.random.default_rng(20)
    for batch in BATCHES:
        obs = coded_batch(batch, rng)
        masks = rng.random((batch, CODED_SPEC.n_logits)) < 0.6
        masks[:, [0, 7]] = True
        out = kernel(obs, masks=masks, return_log_probs=True)
        log_probs, values = oracle(CODED_SPEC, weights, CODED_LAYOUT.expand(*obs), masks)
        np.testing.assert_allclose(out.log_probs[masks], log_probs[masks], atol=1e-5, rtol=0)
        np.testing.assert_allclose(out.values, values, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(out.actions, head_argmax(CODED_SPEC, log_probs))
        # Filled in place, the kernel's own input arrays give the very same results.
        inputs = kernel.coded_inputs(batch)
        inputs.codes[...], inputs.dense[...] = obs
        again = kernel(inputs, masks=masks, return_log_probs=True)
        np.testing.assert_array_equal(again.log_probs, out.log_probs)


def test_coded_inputs_without_dense_values(device_choice):
    layout = InputLayout(30, 4)
    kernel, weights = make_kernel(CODED_SPEC, device_choice, layout=layout)
    codes = coded_batch(333, np.random.default_rng(21)).codes
    out = kernel(CodedObs(codes, np.zeros((333, 0), np.float32)), return_log_probs=True)
    log_probs, values = oracle(CODED_SPEC, weights, layout.expand(codes, np.zeros((333, 0))))
    np.testing.assert_allclose(out.log_probs, log_probs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out.values, values, atol=1e-5, rtol=0)


def test_bad_coded_inputs_are_rejected(device_choice):
    kernel, weights = make_kernel(CODED_SPEC, device_choice, layout=CODED_LAYOUT)
    obs = coded_batch(8, np.random.default_rng(22))
    with pytest.raises(TypeError, match="obs must be a CodedObs"):
        kernel(CODED_LAYOUT.expand(*obs))
    obs.codes[3, 2] = 30
    with pytest.raises(ValueError, match=r"obs.codes must lie in \[0, 30\)"):
        kernel(obs)
    with pytest.raises(ValueError, match=r"shapes \[batch, 4\] and \[batch, 3\]"):
        kernel(CodedObs(obs.codes[:, :3], obs.dense))
    with pytest.raises(ValueError, match=r"layout.obs_dim must equal spec.obs_dim \(30\)"):
        ActorCriticKernel(CODED_SPEC, weights, device=device_choice, layout=InputLayout(31, 4))
    with pytest.raises(ValueError, match="an input layout needs variant 'simd'"):
        ActorCriticKernel(CODED_SPEC, weights, device=device_choice, layout=CODED_LAYOUT,
                          variant="simt")
    with pytest.raises(RuntimeError, match="coded_inputs"):
        make_kernel(CODED_SPEC, device_choice)[0].coded_inputs(4)

"""The lean training layers against torch's own, where their thresholds come from.

Four parts, each contender timed in turns, best of ``--rounds`` rounds (one torch thread):

* ``first``: the first layers of a kernel policy on AEC-Add's observations (581 inputs, 16 codes
  a row), forward and backward, as :func:`skillgym.policies.lean_layers.sparse_linear` over
  the coder's sparse inputs and as SB3's dense product over the one-hot features, for one MLP
  (behaviour cloning) and both (PPO), at several batch sizes: ``SPARSE_MIN_BATCH``.
* ``gradients``: both first layers' weight gradient, as the sparse layer's backward computes it
  (an embedding bag over the output's gradient) and as torch's CSR sparse product.
* ``tanh``: :func:`skillgym.policies.lean_layers.tanh` (through the sigmoid, forced) against
  ``torch.tanh``, forward and backward, by tensor size: ``SIGMOID_TANH_MIN_SIZE``.
* ``masks``: the allowed columns of a minibatch's action masks (1,024 x 304): torch's ``any``
  of booleans, numpy's, and the sum of float masks (sb3-contrib's buffers).

Writes ``benchmarks/results/lean_layers.json``.

    python benchmarks/lean_layers.py
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from rich.console import Console
from rich.table import Table

import skillgym  # noqa: F401  (registers the ids)
from skillgym.policies import KernelMaskablePolicy
from skillgym.policies.lean_layers import SparseInputs, _SigmoidTanh, sparse_linear
from skillgym.training.bench import cpu_name, machine

RESULTS = Path(__file__).resolve().parent / "results" / "lean_layers.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256, 1024])
    parser.add_argument("--width", type=int, default=64, help="each MLP's first hidden width")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100, help="calls timed per round")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def best_of(contenders: dict[str, Callable[[], Any]], rounds: int, calls: int) -> dict[str, float]:
    """Microseconds a call of each contender takes: timed in turns, the best round's mean."""
    best = dict.fromkeys(contenders, float("inf"))
    for fn in contenders.values():
        fn()  # warm-up: allocations, first-call paths
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / calls * 1e6)
    return best


def aec_policy(args: argparse.Namespace) -> KernelMaskablePolicy:
    """A kernel policy for AEC-Add's observations, ``--width`` wide."""
    env = gym.make("skillgym/AEC-Add-v0")
    return KernelMaskablePolicy(env.observation_space, env.action_space, lambda _: 1e-3,
                                net_arch=[args.width, args.width])


def aec_inputs(policy: KernelMaskablePolicy, batch: int) -> SparseInputs:
    """``batch`` sampled AEC-Add observations as the policy's sparse inputs (seeded)."""
    space = policy.observation_space
    space.seed(batch)
    samples = [space.sample() for _ in range(batch)]
    obs = {key: np.stack([sample[key] for sample in samples]) for key in samples[0]}
    return policy.observation_coder.sparse_inputs(obs)


def first_layers(args: argparse.Namespace) -> list[dict[str, Any]]:
    policy = aec_policy(args)
    firsts = [policy.mlp_extractor.policy_net[0], policy.mlp_extractor.value_net[0]]
    rows = []
    for batch in args.batches:
        inputs = aec_inputs(policy, batch)
        dense = inputs.dense()
        for nets in (1, 2):
            layers = firsts[:nets]
            upstream = th.randn(batch, nets * args.width)

            def sparse(layers=layers, upstream=upstream, inputs=inputs) -> None:
                # a fresh batch each call: its index by input is built in every update
                inputs = inputs[slice(None)]
                sparse_linear(inputs, [layer.weight for layer in layers],
                              [layer.bias for layer in layers]).backward(upstream)

            def one_hot(layers=layers, upstream=upstream, dense=dense) -> None:
                th.cat([layer(dense) for layer in layers], dim=1).backward(upstream)

            timed = best_of({"sparse": sparse, "dense": one_hot}, args.rounds, args.calls)
            rows.append({"batch": batch, "nets": nets, **timed})
    return rows


def weight_gradients(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Both first layers' weight gradient from the output's gradient, as the sparse layer's
    backward computes it (an embedding bag over the gradient, one bag per input) and as torch's
    sparse product of the transposed codes (CSR) with it; each call groups a new batch by
    input, as every minibatch does."""
    policy = aec_policy(args)
    rows = []
    for batch in args.batches:
        inputs = aec_inputs(policy, batch)
        upstream = th.randn(batch, 2 * args.width)

        def bag(inputs=inputs, upstream=upstream) -> None:
            by_input = inputs[slice(None)].by_input()
            th.nn.functional.embedding_bag(by_input.rows, upstream, by_input.offsets,
                                           mode="sum", include_last_offset=True)

        def csr(inputs=inputs, upstream=upstream) -> None:
            by_input = inputs[slice(None)].by_input()
            values = th.ones(len(by_input.rows)) if by_input.values is None else by_input.values
            transposed = th.sparse_csr_tensor(by_input.offsets, by_input.rows, values,
                                              size=(inputs.width, len(inputs)),
                                              check_invariants=False)
            th.sparse.mm(transposed, upstream)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's "beta" note on CSR
            timed = best_of({"bag": bag, "csr": csr}, args.rounds, args.calls)
        rows.append({"batch": batch, **timed})
    return rows


def tanh_sizes(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for shape in ((64, 64), (128, 64), (128, 128), (256, 128), (1024, 64), (1024, 128)):
        x = th.randn(*shape, requires_grad=True)
        upstream = th.randn(*shape)
        timed = best_of({"sigmoid": lambda x=x, u=upstream: _SigmoidTanh.apply(x).backward(u),
                         "torch": lambda x=x, u=upstream: th.tanh(x).backward(u)},
                        args.rounds, args.calls)
        rows.append({"elements": shape[0] * shape[1], "shape": list(shape), **timed})
    return rows


def mask_reductions(args: argparse.Namespace) -> dict[str, float]:
    rng = np.random.default_rng(0)
    as_bool = th.from_numpy(rng.random((1024, 304)) < 0.02)
    as_float = as_bool.float()
    return best_of({"torch any (bool)": lambda: as_bool.any(0),
                    "numpy any (bool)": lambda: th.from_numpy(as_bool.numpy().any(0)),
                    "sum != 0 (float)": lambda: as_float.sum(0) != 0},
                   args.rounds, args.calls)


def main() -> None:
    args = parse_args()
    th.set_num_threads(1)
    console = Console()
    cpu = cpu_name()
    first = first_layers(args)
    table = Table(title=f"first layers ({args.width} wide each), forward + backward, µs, {cpu}")
    for column in ("batch", "MLPs", "sparse", "dense", "dense / sparse"):
        table.add_column(column, justify="right")
    for row in first:
        table.add_row(str(row["batch"]), str(row["nets"]), f"{row['sparse']:.0f}",
                      f"{row['dense']:.0f}", f"{row['dense'] / row['sparse']:.2f}x")
    console.print(table)
    gradients = weight_gradients(args)
    table = Table(title=f"both first layers' weight gradient, µs, {cpu}")
    for column in ("batch", "embedding bag", "CSR product", "CSR / bag"):
        table.add_column(column, justify="right")
    for row in gradients:
        table.add_row(str(row["batch"]), f"{row['bag']:.0f}", f"{row['csr']:.0f}",
                      f"{row['csr'] / row['bag']:.2f}x")
    console.print(table)
    tanh = tanh_sizes(args)
    table = Table(title=f"tanh, forward + backward, µs, {cpu}")
    for column in ("elements", "sigmoid", "torch", "torch / sigmoid"):
        table.add_column(column, justify="right")
    for row in tanh:
        table.add_row(f"{row['elements']:,}", f"{row['sigmoid']:.1f}", f"{row['torch']:.1f}",
                      f"{row['torch'] / row['sigmoid']:.2f}x")
    console.print(table)
    masks = mask_reductions(args)
    table = Table(title=f"allowed columns of 1,024 x 304 masks, µs, {cpu}")
    for column in ("how", "µs"):
        table.add_column(column, justify="right")
    for name, micros in masks.items():
        table.add_row(name, f"{micros:.1f}")
    console.print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(
        {"machine": machine(), "first_layers": first, "weight_gradients": gradients,
         "tanh": tanh, "masks": masks}, indent=2)
        + "\n")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""Policy forward pass: torch eager, numpy, the explicit-SIMD kernel and the SIMT kernel.

The network is SB3's default actor-critic for a 64-wide observation and 8 actions: policy MLP
64-64 and value MLP 64-64 (tanh), action and value heads, log-softmax, argmax and the chosen
action's log-probability. Every method computes all of it, from the same float32 weights.

Each thread count runs in its own process (so OpenBLAS, torch and PoCL all get exactly that
many threads); within a process the methods take turns, round after round, so they see the
same machine load. A method's time is its best round (the least disturbed one on a shared
machine); medians are in the JSON, with each method's CPU time per call (all threads of the
process: spinning threads count), which other processes disturb less. "Kernel-only" is a
launch and wait on inputs already in place (``ActorCriticKernel.relaunch``), without staging
inputs or reading outputs; it is the one compared with the machine's FMA peak, itself
measured the same way, as one more method taking its turn in every round, by a register-only
kernel (skillgym/kernels/fma_peak.cl): a peak measured once, at another moment, would compare
the kernel with a machine under different load.

The explicit-SIMD kernel runs in the layout tuned for this device, network and batch size
(``tiling="auto"``: timed on first use, then read from the tuning cache; batches below
``TUNE_MIN_BATCH`` keep the default layout); each row names the layout. The FMA peak is the
device's own: the best over vector widths and chain counts (``skillgym.kernels.peak.fma_peaks``),
all of them reported; its best width and chain count then take their turn in every round.

A round during which any of the process's threads was preempted (its involuntary context
switches, read from ``/proc``, went up by more than ``MAX_PREEMPTIONS``) lost its core to
another process for a while: it is measured again, up to ``RETRIES`` times, and the rounds
that stayed disturbed are counted in the JSON.

The kernels run on the device ``SKILLGYM_OPENCL`` names (default ``auto``: with one thread,
PoCL's ``basic`` device, which runs a launch on the calling thread; with two, its ``pthread``
device); ``SKILLGYM_OPENCL=portable:pthread`` measures the one-thread process on worker threads.

Usage:
    python benchmarks/policy_forward.py [--threads 1 2] [--batches 1 8 64 256 1024 4096]
Writes benchmarks/results/policy_forward.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BATCHES = (1, 8, 64, 256, 1024, 4096)
METHODS = ("torch", "numpy", "kernel", "kernel_only", "simt", "simt_only", "fma_peak")
RESULTS = Path(__file__).resolve().parent / "results" / "policy_forward.json"
# Each timed round lasts at least this long, so that timer resolution does not matter.
ROUND_SECONDS = 0.02
# Pause before each method's round: OpenBLAS's and torch's worker threads spin for a while
# after a call (OpenBLAS's default timeout is 2^28 cycles, about 0.08 s here); without the
# pause they compete for the cores with whichever method runs next. The pause is a busy
# wait on one thread: after a sleep, the first 20 ms of numpy measured 25 % slower in wall
# time (not in CPU time) on this VM, whose idle vCPUs are slow to come back.
SETTLE_SECONDS = 0.1
# Multiply-adds per chain of one FMA-peak launch: about 0.3 ms, several launches per round.
PEAK_ITERATIONS = 200_000
# A round with more preemptions than this is measured again, at most RETRIES more times. On an
# idle core a 20 ms round sees 0, now and then 1 or 2 (kernel threads); sharing a core with
# a busy process, about 3.
MAX_PREEMPTIONS = 2
RETRIES = 4
# The one-thread target's fraction of the device's peak (the issue's); two threads are reported.
PEAK_FRACTION_TARGET = 0.60


def build_methods(threads: int):
    """The implementations, each a function of a float32 [B, 64] array; the ``*_only`` ones
    relaunch their kernel on the inputs staged by the call just before them; ``fma_peak``
    ignores its input and runs the FMA-peak kernel at the device's best width. Also returned:
    a function making a tuned kernel for a batch size (``kernel`` and ``kernel_only`` run the
    last one made), the peak's FLOP per launch and every width's peak."""
    import torch
    from torch import nn

    from skillgym.kernels import ActorCriticKernel, NetworkSpec, select_device
    from skillgym.kernels.numpy_path import actor_critic_numpy
    from skillgym.kernels.peak import FmaPeak, device_peak, fma_peaks

    torch.set_num_threads(threads)
    spec = NetworkSpec(64, (64, 64), (64, 64), (8,))
    rng = np.random.default_rng(0)
    weights = []
    for layer in spec.layers():
        bound = 1 / np.sqrt(layer.n_in)
        weights.append(
            (
                rng.uniform(-bound, bound, (layer.n_out, layer.n_in)).astype(np.float32),
                rng.uniform(-bound, bound, layer.n_out).astype(np.float32),
            )
        )

    def sequential(pairs):
        modules = []
        for i, (w, b) in enumerate(pairs):
            linear = nn.Linear(w.shape[1], w.shape[0])
            linear.weight.data = torch.from_numpy(w)
            linear.bias.data = torch.from_numpy(b)
            modules += [linear, nn.Tanh()] if i < len(pairs) - 1 else [linear]
        return nn.Sequential(*modules)

    pi, vf = sequential(weights[:3]), sequential(weights[3:])

    def torch_forward(obs):
        with torch.no_grad():
            x = torch.from_numpy(obs)
            log_probs = torch.log_softmax(pi(x), dim=1)
            actions = log_probs.argmax(dim=1, keepdim=True)
            return actions, log_probs.gather(1, actions), vf(x)

    # device=None: SKILLGYM_OPENCL chooses (default "auto": PoCL's basic device in the
    # one-thread process, its pthread device otherwise).
    device = select_device()
    kernel = {}

    def tuned_kernel():
        """A kernel that tunes its layout on its first call of TUNE_MIN_BATCH or more."""
        kernel["now"] = ActorCriticKernel(
            spec, weights, device=device, min_kernel_batch=0, tiling="auto"
        )
        return kernel["now"]

    simt = ActorCriticKernel(spec, weights, device=device, min_kernel_batch=0, variant="simt")
    peaks = fma_peaks(device, work_items=threads, iterations=PEAK_ITERATIONS)
    best = device_peak(peaks)
    peak = FmaPeak(device, threads, best.vector_width, PEAK_ITERATIONS, best.accumulators)
    methods = {
        "torch": torch_forward,
        # The kernel's work: actions, their log-probabilities and values, not every
        # log-probability.
        "numpy": lambda obs: actor_critic_numpy(
            spec, weights, obs, None, None, with_log_probs=False
        ),
        "kernel": lambda obs: kernel["now"](obs),
        "kernel_only": lambda obs: kernel["now"].relaunch(),
        "simt": simt,
        "simt_only": lambda obs: simt.relaunch(),
        "fma_peak": lambda obs: peak.launch(),
    }
    return spec, methods, tuned_kernel, peak.flops, peaks


def settle(seconds: float) -> None:
    """Busy-wait for ``seconds`` (see SETTLE_SECONDS)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def preemptions() -> int:
    """Involuntary context switches of all the process's threads so far: each is a moment
    when a thread that could run was taken off its core for another."""
    total = 0
    for status in Path("/proc/self/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        total += sum(
            int(line.split()[1])
            for line in text.splitlines()
            if line.startswith("nonvoluntary_ctxt_switches")
        )
    return total


def time_round(function, obs) -> tuple[float, float, int]:
    """Wall and CPU seconds per call (CPU of all the process's threads) over one round of at
    least ROUND_SECONDS, and the preemptions during it."""
    calls, switched = 0, preemptions()
    start, cpu_start = time.perf_counter(), time.process_time()
    while True:
        function(obs)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= ROUND_SECONDS:
            cpu = time.process_time() - cpu_start
            return elapsed / calls, cpu / calls, preemptions() - switched


def undisturbed_round(function, obs) -> tuple[float, float, bool]:
    """:func:`time_round`, again while it is preempted more than MAX_PREEMPTIONS times (at
    most RETRIES more times); also whether the round kept was still disturbed."""
    for _ in range(RETRIES + 1):
        settle(SETTLE_SECONDS)
        function(obs)  # not timed: the first call after the pause finds cold caches
        seconds, cpu_seconds, switches = time_round(function, obs)
        if switches <= MAX_PREEMPTIONS:
            return seconds, cpu_seconds, False
    return seconds, cpu_seconds, True


def worker(threads: int, batches: list[int], rounds: int) -> None:
    """Measure everything at one thread count; print one JSON line per batch size."""
    from skillgym.kernels import select_device

    device = select_device()
    if device is None:
        raise SystemExit("policy_forward.py needs an OpenCL device (pocl-binary-distribution)")
    spec, methods, tuned_kernel, peak_flops, peaks = build_methods(threads)
    header = {
        "threads": threads,
        "device": device.name,
        "driver": device.driver,
        "fma_peaks": {str(w): p._asdict() for w, p in peaks.items()},
    }
    print(json.dumps(header), flush=True)
    rng = np.random.default_rng(1)
    for batch in batches:
        obs = rng.normal(size=(batch, spec.obs_dim)).astype(np.float32)
        kernel = tuned_kernel()
        for function in methods.values():
            function(obs)  # warm up: first launches compile for the work-group size, or tune
        wall = {name: [] for name in methods}
        cpu = {name: [] for name in methods}
        disturbed = dict.fromkeys(methods, 0)
        for _ in range(rounds):
            for name, function in methods.items():
                seconds, cpu_seconds, still = undisturbed_round(function, obs)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
                disturbed[name] += still
        record = {"threads": threads, "batch": batch, "flops_per_sample": spec.flops_per_sample()}
        record["fma_peak_gflops"] = peak_flops / min(wall["fma_peak"]) / 1e9
        record["tiling"] = kernel.tiling.as_dict()
        record["tiling_label"] = kernel.tiling.label
        record["tuned"] = (
            "default (below the tuning batch)" if kernel.tuning is None
            else "from the cache" if kernel.tuning.cached else "timed now"
        )
        for name in methods:
            record[name] = {
                "best_s": min(wall[name]),
                "median_s": statistics.median(wall[name]),
                "cpu_best_s": min(cpu[name]),
                "disturbed_rounds": disturbed[name],
            }
        print(json.dumps(record), flush=True)


def run_worker(threads: int, batches: list[int], rounds: int, progress, task) -> tuple[dict, list]:
    """Run one worker process with every library limited to ``threads`` threads."""
    env = dict(os.environ)
    # Every library reads its thread count once, at start-up.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "POCL_MAX_PTHREAD_COUNT"):
        env[name] = str(threads)
    command = [sys.executable, __file__, "--worker", "--threads", str(threads)]
    command += ["--rounds", str(rounds), "--batches", *map(str, batches)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    header, records = None, []
    for line in process.stdout:
        data = json.loads(line)
        if header is None:
            header = data
        else:
            records.append(data)
            progress.advance(task)
    if process.wait() != 0:
        raise SystemExit(f"the {threads}-thread worker failed")
    return header, records


def summarize(records: list[dict]) -> list[dict]:
    rows = []
    for r in records:
        flops = r["flops_per_sample"] * r["batch"]
        row = {"threads": r["threads"], "batch": r["batch"], "layout": r["tiling_label"],
               "tuned": r["tuned"]}
        for name in METHODS:
            row[f"{name}_us"] = r[name]["best_s"] * 1e6
            row[f"{name}_cpu_us"] = r[name]["cpu_best_s"] * 1e6
            row[f"{name}_samples_per_s"] = r["batch"] / r[name]["best_s"]
            row[f"{name}_disturbed_rounds"] = r[name]["disturbed_rounds"]
        row["kernel_only_gflops"] = flops / r["kernel_only"]["best_s"] / 1e9
        row["fma_peak_gflops"] = r["fma_peak_gflops"]
        row["fraction_of_fma_peak"] = row["kernel_only_gflops"] / r["fma_peak_gflops"]
        row["speedup_vs_torch"] = r["torch"]["best_s"] / r["kernel"]["best_s"]
        row["speedup_vs_numpy"] = r["numpy"]["best_s"] / r["kernel"]["best_s"]
        row["speedup_vs_simt"] = r["simt_only"]["best_s"] / r["kernel_only"]["best_s"]
        rows.append(row)
    return rows


def targets(rows: list[dict]) -> list[tuple[str, float, float, bool]]:
    """(target, measured, required, met) for each of the issue's targets."""
    checks = []
    for row in rows:
        t, b = row["threads"], row["batch"]
        if b == 4096:
            checks += [
                (f"kernel / torch, B=4096, {t} thr", row["speedup_vs_torch"], 1.5),
                (f"kernel / numpy, B=4096, {t} thr", row["speedup_vs_numpy"], 1.5),
            ]
            if t == 1:
                checks.append((
                    "kernel-only / the device's FMA peak, B=4096, 1 thr",
                    row["fraction_of_fma_peak"], PEAK_FRACTION_TARGET,
                ))
        if b == 1024:
            checks.append((f"kernel / torch, B=1024, {t} thr", row["speedup_vs_torch"], 1.2))
    return [(name, value, need, value >= need) for name, value, need in checks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--rounds", type=int, default=25, help="timed rounds per method")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.threads[0], args.batches, args.rounds)
        return

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    headers, records = [], []
    with Progress() as progress:
        task = progress.add_task("forward passes", total=len(args.threads) * len(args.batches))
        for threads in args.threads:
            header, found = run_worker(threads, args.batches, args.rounds, progress, task)
            headers.append(header)
            records += found
    rows = summarize(records)

    devices = "; ".join(f"{h['threads']} thread(s): {h['device']}" for h in headers)
    table = Table(title=f"Policy forward, 64-(64,64)/(64,64)-8 actor-critic ({devices})")
    columns = ("thr", "B", "layout", "torch µs", "numpy µs", "kernel µs", "kernel Msamples/s",
               "kernel-only µs", "GFLOP/s", "FMA peak GFLOP/s", "% FMA peak", "× torch", "× numpy",
               "SIMT-only µs", "× SIMT")
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            str(row["threads"]), str(row["batch"]), row["layout"],
            f"{row['torch_us']:.1f}", f"{row['numpy_us']:.1f}", f"{row['kernel_us']:.1f}",
            f"{row['kernel_samples_per_s'] / 1e6:.2f}", f"{row['kernel_only_us']:.1f}",
            f"{row['kernel_only_gflops']:.1f}", f"{row['fma_peak_gflops']:.1f}",
            f"{100 * row['fraction_of_fma_peak']:.0f}",
            f"{row['speedup_vs_torch']:.2f}", f"{row['speedup_vs_numpy']:.2f}",
            f"{row['simt_only_us']:.1f}", f"{row['speedup_vs_simt']:.1f}",
        )
    console = Console(width=200)
    console.print(table)
    for header in headers:
        widths = ", ".join(
            f"float{w} {p['gflops']:.1f} ({p['accumulators']} chains)"
            for w, p in header["fma_peaks"].items()
        )
        console.print(f"FMA peak GFLOP/s by vector width, {header['threads']} thread(s): {widths}")
    disturbed = sum(row[f"{name}_disturbed_rounds"] for row in rows for name in METHODS)
    console.print(f"rounds still preempted after {RETRIES} retries: {disturbed}")
    cpu_table = Table(title="CPU time per forward (all of the process's threads), best round")
    for column in ("thr", "B", "torch µs", "numpy µs", "kernel µs"):
        cpu_table.add_column(column, justify="right")
    for row in rows:
        cpu_table.add_row(
            str(row["threads"]), str(row["batch"]),
            *(f"{row[f'{name}_cpu_us']:.1f}" for name in ("torch", "numpy", "kernel")),
        )
    console.print(cpu_table)
    checks = targets(rows)
    for name, value, need, met in checks:
        console.print(f"{'met ' if met else 'MISS'}  {name}: {value:.2f} (target ≥ {need})")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "network": "obs 64, pi (64, 64), vf (64, 64), tanh, 8 actions",
        "workers": headers,
        "rows": rows,
        "raw": records,
        "targets": [{"name": n, "value": v, "target": t, "met": m} for n, v, t, m in checks],
    }, indent=2))
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

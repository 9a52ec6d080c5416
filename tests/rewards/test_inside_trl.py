"""skillgym's reward functions inside TRL's own ``GRPOTrainer``: a few steps on a small model
built here (no hub access), and the rewards TRL logs equal skillgym's scores of the same
completions."""

from __future__ import annotations

import math

import pytest

trl = pytest.importorskip("trl", reason="TRL is in the dev extra")
transformers = pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")
torch = pytest.importorskip("torch")

from skillgym.rewards import Sample, get  # noqa: E402
from skillgym.rewards.adapters import TRLRewardFunction  # noqa: E402


def byte_tokenizer():
    """A tokenizer of single characters, built in memory."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    alphabet = [chr(code) for code in range(32, 127)]
    vocab = {token: index for index, token in enumerate(["<pad>", "<eos>", *alphabet])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    return transformers.PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>",
                                                eos_token="<eos>")


class Recording:
    """A TRL reward function that records what TRL passed and what it returned."""

    def __init__(self, name: str, **config) -> None:
        self.function = TRLRewardFunction(name, **config)
        self.reward = get(name, **config)  # the same reward, scored apart
        self.__name__ = self.function.__name__
        self.calls: list[tuple[list[Sample], list[float]]] = []

    def __call__(self, prompts, completions, completion_ids=None, **columns):
        scores = self.function(prompts=prompts, completions=completions,
                               completion_ids=completion_ids, **columns)
        samples = [Sample.build(text, prompt=prompt, ground_truth=solution,
                                completion_ids=list(ids))
                   for prompt, text, ids, solution in zip(prompts, completions, completion_ids,
                                                          columns["solution"], strict=True)]
        self.calls.append((samples, list(scores)))
        return scores


# TRL itself still asks transformers for the old name.
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_grpo_trainer_logs_skillgym_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    tokenizer = byte_tokenizer()
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id))
    dataset = datasets.Dataset.from_dict({
        "prompt": [f"{a}+{b}=" for a, b in ((1, 2), (3, 4), (5, 1), (2, 2))],
        "solution": ["3", "7", "6", "4"]})
    recorders = [Recording("repetition_penalty", unit="tokens"), Recording("loop", unit="chars"),
                 Recording("accuracy")]
    config = trl.GRPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=4,
        max_completion_length=24, max_steps=2, logging_steps=1, learning_rate=1e-4,
        activation_checkpointing=False, report_to=[], use_cpu=True, save_strategy="no",
        temperature=1.0, seed=0)
    trainer = trl.GRPOTrainer(model=model, reward_funcs=recorders, args=config,
                              train_dataset=dataset, processing_class=tokenizer)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only wait on each other
    try:
        trainer.train()
    finally:
        torch.set_num_threads(threads)

    logged = [row for row in trainer.state.log_history if "reward" in row]
    assert len(logged) == 2
    for recorder in recorders:
        assert len(recorder.calls) == 2
        for (samples, scores), row in zip(recorder.calls, logged, strict=True):
            # What TRL was given equals skillgym's own scores of the same completions...
            assert scores == recorder.reward.score_batch(samples)
            # ...and what TRL logged is their mean.
            assert math.isclose(row[f"rewards/{recorder.__name__}/mean"],
                                sum(scores) / len(scores), abs_tol=1e-6)

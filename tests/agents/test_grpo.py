"""The GRPO trainer on a tiny transformer: rollouts line up with the policy's own log-probs,
updates move the policy the advantages' way, runs are seeded and resume bit-identically, and
bad rewards, uninformative groups and NaN losses are handled as documented."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from skillgym.agents.grpo import GRPOSettings, GRPOTrainer, PromptDraw
from skillgym.agents.grpo_objective import group_advantages, sequence_log_probs
from skillgym.models import CausalTransformer, TransformerConfig
from skillgym.rewards.base import Reward


def tiny_model(seed: int = 0) -> CausalTransformer:
    torch.manual_seed(seed)
    return CausalTransformer(TransformerConfig(n_layers=1, d_model=32, n_heads=2,
                                               context_length=128))


PROMPTS = PromptDraw(levels=(1, 2), pool_size=20)


class ReplyLength(Reward):
    """The reply's length in characters over ten: replies of one group differ in it."""

    name = "reply_length"

    def score(self, sample):
        return len(sample.completion) / 10


def trainer(seed: int = 0, rewards=None, **overrides) -> GRPOTrainer:
    settings = GRPOSettings(**{"prompts_per_step": 2, "group_size": 4, "max_new_tokens": 10,
                               "learning_rate": 1e-2, "seed": seed, **overrides})
    return GRPOTrainer(tiny_model(), settings, PROMPTS,
                       rewards=rewards or {"length": (ReplyLength(), 1.0)})


def parameters(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_rollout_log_probs_are_the_policys_own():
    run = trainer()
    rollout = run.rollout()
    assert rollout.ids.shape[0] == 8 and rollout.rewards.shape == (8,)
    with torch.no_grad():
        recomputed = sequence_log_probs(run.model, rollout.ids, rollout.real) * rollout.completion
    torch.testing.assert_close(recomputed, rollout.behaviour_logp, atol=2e-4, rtol=0)
    # Every group shares its prompt; replies sit right after the prompt.
    prompt_ends = rollout.real.sum(1) - rollout.completion.sum(1)
    for group in range(2):
        rows = range(4 * group, 4 * group + 4)
        assert len({tuple(rollout.ids[r, :prompt_ends[r]].tolist()) for r in rows}) == 1


def test_an_update_moves_the_policy_the_advantages_way():
    run = trainer(beta=0.0)
    rollout = run.rollout()
    advantages, informative = group_advantages(rollout.rewards, 4)
    assert informative.any()

    def sequence_logp() -> torch.Tensor:
        with torch.no_grad():
            return (sequence_log_probs(run.model, rollout.ids, rollout.real)
                    * rollout.completion).sum(1)

    before = sequence_logp()
    run.update(rollout)
    change = sequence_logp() - before
    assert float((advantages.float() * change).sum()) > 0


def test_same_seed_same_run_and_resume_is_bit_identical():
    straight = trainer(seed=3)
    metrics = [straight.train_step() for _ in range(3)]
    again = trainer(seed=3)
    assert [again.train_step() for _ in range(3)] == metrics
    first = trainer(seed=3)
    first.train_step()
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = trainer(seed=3)
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    assert [resumed.train_step() for _ in range(2)] == metrics[1:]
    for ours, theirs in zip(resumed.model.parameters(), straight.model.parameters(),
                            strict=True):
        assert torch.equal(ours, theirs)


def test_groups_without_spread_are_skipped():
    run = trainer(rewards={"accuracy": 1.0})  # an untrained model is never right
    before = parameters(run.model)
    metrics = run.train_step()
    assert metrics["skipped_groups"] == 2 and metrics["loss"] == 0.0
    for old, new in zip(before, run.model.parameters(), strict=True):
        assert torch.equal(old, new)


class Flaky(Reward):
    """Raises on a batch, and on every sample whose reply has an even length."""

    name = "flaky"

    def score_batch(self, samples):
        raise RuntimeError("batch scoring broke")

    def score(self, sample):
        if len(sample.completion) % 2 == 0:
            raise RuntimeError("this sample broke")
        return 1.0


def test_a_reward_that_raises_gets_the_fallback_and_the_run_goes_on():
    run = trainer(fallback_score=-0.5, rewards={"flaky": (Flaky(), 1.0)})
    rollout = run.rollout()
    flaky = rollout.components["flaky"]
    assert set(np.unique(flaky)) <= {-0.5, 1.0}
    assert rollout.reward_errors == int((flaky == -0.5).sum()) > 0
    assert np.isfinite(run.train_step()["loss"])


def test_a_nan_loss_stops_the_update_with_a_clear_error():
    run = trainer()
    rollout = run.rollout()
    with torch.no_grad():
        next(run.model.parameters())[0, 0] = float("nan")
    kept = parameters(run.model)
    with pytest.raises(FloatingPointError, match="not applied"):
        run.update(rollout)
    for old, new in zip(kept, run.model.parameters(), strict=True):
        assert torch.equal(old.nan_to_num(7.0), new.detach().nan_to_num(7.0))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"group_size": 1}, "group_size"),
    ({"temperature": 0.0}, "temperature"),
    ({"ratio_level": "group"}, "ratio_level"),
    ({"beta": -1.0}, "beta"),
])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GRPOSettings(**kwargs)


def test_bad_prompt_draws_and_mismatched_checkpoints_are_named():
    with pytest.raises(ValueError, match="levels"):
        PromptDraw(levels=(9,))
    with pytest.raises(ValueError, match="modes"):
        PromptDraw(modes=("think", "think"))
    state = trainer().state_dict()
    with pytest.raises(ValueError, match="other GRPO settings"):
        trainer(group_size=3).load_state_dict(state)


def reply_texts(rollout) -> list[str]:
    """Each row's reply, decoded from the rollout's tensors."""
    from skillgym.models import decode

    starts = rollout.real.sum(1) - rollout.completion.sum(1)
    return [decode(rollout.ids[row, start:int(rollout.real[row].sum())])
            for row, start in enumerate(starts.tolist())]


def test_forced_decision_splits_each_auto_think_group_with_the_ratio_against_one_half():
    from skillgym.models.pretrained import load_builtin

    settings = GRPOSettings(prompts_per_step=2, group_size=4, max_new_tokens=160, beta=0.0,
                            forced_decision=True)
    run = GRPOTrainer(load_builtin(), settings,
                      PromptDraw(levels=(3, 5), modes=("auto_think", "think"), pool_size=10),
                      rewards={"accuracy": 1.0})
    rollout = run.rollout()
    texts = reply_texts(rollout)
    forced = torch.isclose(rollout.behaviour_logp, torch.tensor(math.log(0.5)))
    for group, mode in enumerate(rollout.modes[::4]):
        rows = range(4 * group, 4 * group + 4)
        if mode == "think":
            assert not forced[list(rows)].any()
            continue
        # The shipped model writes its analysis; each half of the group is given one choice
        # (what the model writes after a choice it would not make is its own affair).
        assert [texts[r].split("Therefore, /", 1)[1][0] for r in rows] == ["t", "t", "n", "n"]
        assert forced[list(rows)].sum(1).tolist() == [1, 1, 1, 1]
    assert "auto_think" in rollout.modes
    with pytest.raises(ValueError, match="even group_size"):
        GRPOSettings(group_size=3, forced_decision=True)

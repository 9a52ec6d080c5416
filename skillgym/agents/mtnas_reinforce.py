"""The REINFORCE controller of multitask architecture search (Chen et al. 2018; ENAS).

An LSTM emits the option of every (task, layer) slot in turn, each choice fed back as the next
input, so later slots can depend on earlier ones (a task can follow another's choice and share
its module). It is trained with REINFORCE to maximise the expected mean accuracy over tasks:
``-(R - b) / s · log p(assignment) - β · entropy``, with ``b`` a moving-average baseline and
``s`` a moving average of the advantage's scale (so one learning rate works whatever the spread
of accuracies).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from skillgym.envs.mtnas.modules import SearchSpace


class _ControllerPolicy(nn.Module):
    def __init__(self, slots: int, options: int, hidden: int):
        super().__init__()
        self.slots = slots
        # The extra input row is the start token, fed before the first slot.
        self.inputs = nn.Embedding(options + 1, hidden)
        self.positions = nn.Embedding(slots, hidden)
        self.cell = nn.LSTMCell(hidden, hidden)
        self.head = nn.Linear(hidden, options)
        self.start = options

    def _logits(self, state, previous: torch.Tensor, slot: int):
        x = self.inputs(previous) + self.positions.weight[slot]
        state = self.cell(x, state)
        return self.head(state[0]), state

    def sample(self, count: int, generator: torch.Generator | None, greedy: bool = False):
        """``count`` assignments (flat, ``(count, slots)``), sampled or greedy."""
        previous = torch.full((count,), self.start, dtype=torch.long)
        state, choices = None, []
        for slot in range(self.slots):
            logits, state = self._logits(state, previous, slot)
            if greedy:
                previous = logits.argmax(-1)
            else:
                previous = torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]
            choices.append(previous)
        return torch.stack(choices, 1)

    def log_prob_and_entropy(self, actions: torch.Tensor):
        """Per-assignment log-probability and summed entropy of ``actions`` ``(count, slots)``."""
        previous = torch.full((actions.shape[0],), self.start, dtype=torch.long)
        state, log_prob, entropy = None, 0.0, 0.0
        for slot in range(self.slots):
            logits, state = self._logits(state, previous, slot)
            log_softmax = logits.log_softmax(-1)
            log_prob = log_prob + log_softmax.gather(1, actions[:, slot : slot + 1])[:, 0]
            entropy = entropy - (log_softmax.exp() * log_softmax).sum(-1)
            previous = actions[:, slot]
        return log_prob, entropy


class ReinforceController:
    """The RL controller: an autoregressive LSTM policy over slots, trained by REINFORCE.

    Args:
        space: the search space.
        hidden: the LSTM width.
        learning_rate: Adam's step size.
        entropy_weight: β, the entropy bonus that keeps exploring.
        baseline_decay: the moving-average factor of the baseline and the advantage scale.
        seed: seeds the policy's initial weights and its sampling.
    """

    def __init__(
        self, space: SearchSpace, hidden: int = 32, learning_rate: float = 0.01,
        entropy_weight: float = 0.01, baseline_decay: float = 0.9, seed: int = 0,
    ):
        if not 0.0 <= baseline_decay < 1.0:
            raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay}")
        if entropy_weight < 0:
            raise ValueError(f"entropy_weight must be >= 0, got {entropy_weight}")
        self.space = space
        self.entropy_weight = entropy_weight
        self.decay = baseline_decay
        self.generator = torch.Generator().manual_seed(seed)
        tasks, layers = space.shape
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.policy = _ControllerPolicy(tasks * layers, space.num_options, hidden)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=learning_rate)
        self.baseline: float | None = None
        self.scale: float | None = None

    def ask(self, count: int) -> list[np.ndarray]:
        """``count`` assignments sampled from the policy."""
        with torch.no_grad():
            flat = self.policy.sample(count, self.generator).numpy()
        return [row.reshape(self.space.shape) for row in flat]

    def tell(self, assignments: Sequence[np.ndarray], rewards: Sequence[float]) -> None:
        """One policy-gradient step on the scored batch; then update the baseline and scale."""
        rewards_t = torch.as_tensor(np.asarray(rewards, dtype=np.float32))
        if self.baseline is None:
            self.baseline = float(rewards_t.mean())
            self.scale = float((rewards_t - self.baseline).abs().mean()) or 1.0
        advantage = (rewards_t - self.baseline) / max(self.scale, 1e-6)
        actions = torch.as_tensor(np.stack([np.asarray(a).reshape(-1) for a in assignments]))
        log_prob, entropy = self.policy.log_prob_and_entropy(actions)
        loss = -(advantage * log_prob).mean() - self.entropy_weight * entropy.mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        deviation = float((rewards_t - self.baseline).abs().mean())
        self.baseline = self.decay * self.baseline + (1 - self.decay) * float(rewards_t.mean())
        self.scale = self.decay * self.scale + (1 - self.decay) * deviation

    def recommend(self) -> list[np.ndarray]:
        """The policy's greedy (most likely slot by slot) assignment."""
        with torch.no_grad():
            flat = self.policy.sample(1, None, greedy=True).numpy()
        return [flat[0].reshape(self.space.shape)]

    def state_dict(self) -> dict:
        """The policy, its optimiser, the sampling generator, the baseline and the scale."""
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "baseline": self.baseline,
                "scale": self.scale}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.baseline = state["baseline"]
        self.scale = state["scale"]

    def entropy(self) -> float:
        """The policy's mean per-assignment entropy on a fresh sample of 64 (nats)."""
        with torch.no_grad():
            actions = self.policy.sample(64, torch.Generator().manual_seed(0))
            return float(self.policy.log_prob_and_entropy(actions)[1].mean())

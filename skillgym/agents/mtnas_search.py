"""Architecture search over multitask module assignments: the loop, random search, evolution.

Every searcher speaks *ask / tell*: ``ask(n)`` proposes ``n`` assignments, ``tell`` hands back
their rewards. A :class:`Search` alternates, ENAS-style, between letting the evaluator
``prepare`` (train the shared weights on the proposed assignments) and scoring them, one round
at a time, until the evaluation budget is spent, then re-scores the best candidates with the
final weights; :func:`run_search` runs one to the end. Searchers and the search save and load
their state (``state_dict`` / ``load_state_dict``, of tensors and plain Python values only), so
a search stopped between rounds continues exactly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from skillgym.envs.mtnas.evaluator import Evaluator
from skillgym.envs.mtnas.modules import SearchSpace


class Searcher(Protocol):
    """A search strategy over the assignments of ``space``."""

    space: SearchSpace

    def ask(self, count: int) -> list[np.ndarray]:
        """Propose ``count`` assignments to score."""

    def tell(self, assignments: Sequence[np.ndarray], rewards: Sequence[float]) -> None:
        """Receive the rewards of the last proposals."""

    def recommend(self) -> list[np.ndarray]:
        """The searcher's own picks (e.g. a controller's most likely assignment), maybe none."""

    def state_dict(self) -> dict:
        """Everything later proposals depend on (random state included)."""

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``, taken from a searcher built with the same arguments."""


@dataclass
class SearchResult:
    """What a search found.

    Attributes:
        best: the chosen assignment (best re-scored candidate).
        best_reward: its reward when re-scored with the final evaluator state.
        best_per_budget: ``(evaluations, best reward so far, its assignment text)`` after every
            batch: the best assignment found per evaluation budget.
        rewards: every reward, in evaluation order.
        evaluations: evaluations spent, re-scoring included.
        finals: ``(assignment text, reward)`` of every re-scored candidate, best first.
    """

    best: np.ndarray
    best_reward: float
    best_per_budget: list[tuple[int, float, str]] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    evaluations: int = 0
    finals: list[tuple[str, float]] = field(default_factory=list)


class SearchHistory:
    """Every scored assignment, with the running best per evaluation budget."""

    def __init__(self, space: SearchSpace):
        self.space = space
        self.rewards: list[float] = []
        self.best_per_budget: list[tuple[int, float, str]] = []
        self._best: dict[str, float] = {}

    @property
    def evaluations(self) -> int:
        """Assignments scored so far."""
        return len(self.rewards)

    def record(self, assignments: Sequence[np.ndarray], rewards: Sequence[float]) -> None:
        """Add scored assignments (a repeated assignment keeps its latest reward)."""
        for assignment, reward in zip(assignments, rewards, strict=True):
            self.rewards.append(float(reward))
            self._best[self.space.format(assignment)] = float(reward)
        text, reward = max(self._best.items(), key=lambda item: item[1])
        self.best_per_budget.append((self.evaluations, reward, text))

    def top(self, count: int) -> list[np.ndarray]:
        """The ``count`` distinct assignments with the highest recorded rewards."""
        ranked = sorted(self._best.items(), key=lambda item: -item[1])[:count]
        return [self.space.parse(text) for text, _ in ranked]

    def state_dict(self) -> dict:
        """The rewards, the best per budget and the latest reward of every assignment."""
        return {"rewards": list(self.rewards), "best_per_budget": list(self.best_per_budget),
                "best": dict(self._best)}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.rewards = list(state["rewards"])
        self.best_per_budget = [tuple(row) for row in state["best_per_budget"]]
        self._best = dict(state["best"])


class Search:
    """A search in rounds: ``ask`` a batch, ``prepare`` the evaluator on it, score it, ``tell``.

    Rewards from early rounds come from less-trained shared weights, so :meth:`finish` scores
    the ``rerank`` best distinct candidates and the searcher's own recommendations again with
    the final weights and chooses the best of those. Between rounds, :meth:`state_dict` holds
    everything the rest of the search depends on except the evaluator's own state.

    Args:
        searcher: the strategy.
        evaluator: the reward backend.
        budget: assignments to score during the search (re-scoring comes on top, equally for
            every searcher given the same ``rerank``).
        batch_size: assignments per round (the last round takes what is left of the budget).
        rerank: candidates re-scored at the end.
    """

    def __init__(
        self, searcher: Searcher, evaluator: Evaluator, budget: int, batch_size: int = 8,
        rerank: int = 5,
    ):
        if budget < 1 or batch_size < 1 or rerank < 1:
            raise ValueError(
                f"budget, batch_size and rerank must be >= 1, got {budget}, {batch_size}, {rerank}"
            )
        self.searcher = searcher
        self.evaluator = evaluator
        self.budget = budget
        self.batch_size = batch_size
        self.rerank = rerank
        self.history = SearchHistory(searcher.space)

    @property
    def evaluations(self) -> int:
        """Assignments scored so far."""
        return self.history.evaluations

    @property
    def done(self) -> bool:
        """Whether the budget is spent."""
        return self.history.evaluations >= self.budget

    def round(self) -> list[float]:
        """One round; returns its rewards."""
        batch = self.searcher.ask(min(self.batch_size, self.budget - self.history.evaluations))
        self.evaluator.prepare(batch)
        rewards = [evaluation.mean for evaluation in self.evaluator.evaluate(batch)]
        self.searcher.tell(batch, rewards)
        self.history.record(batch, rewards)
        return rewards

    def finish(self) -> SearchResult:
        """Re-score the best candidates with the evaluator's current state; the best wins."""
        return finish_search(self.history, self.evaluator, self.searcher.recommend(), self.rerank)

    def state_dict(self) -> dict:
        """The history and the searcher's state."""
        return {"history": self.history.state_dict(), "searcher": self.searcher.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state`` (the evaluator's own state is restored separately)."""
        self.history.load_state_dict(state["history"])
        self.searcher.load_state_dict(state["searcher"])


def run_search(
    searcher: Searcher,
    evaluator: Evaluator,
    budget: int,
    batch_size: int = 8,
    rerank: int = 5,
    progress: Callable[[int], None] | None = None,
) -> SearchResult:
    """Search until ``budget`` assignments are scored; return the best re-scored candidate.

    The arguments are :class:`Search`'s; ``progress`` is called with the number of evaluations
    after every round.
    """
    search = Search(searcher, evaluator, budget, batch_size, rerank)
    while not search.done:
        search.round()
        if progress is not None:
            progress(search.evaluations)
    return search.finish()


def finish_search(
    history: SearchHistory, evaluator: Evaluator, recommended: Sequence[np.ndarray], rerank: int
) -> SearchResult:
    """Re-score the ``rerank`` best distinct candidates and ``recommended`` with the evaluator's
    current state; the best of them is the result."""
    candidates: dict[str, np.ndarray] = {}
    for assignment in [*history.top(rerank), *recommended]:
        candidates.setdefault(history.space.format(assignment), assignment)
    finals = [evaluation.mean for evaluation in evaluator.evaluate(list(candidates.values()))]
    index = int(np.argmax(finals))
    ranked = sorted(zip(candidates, finals, strict=True), key=lambda item: -item[1])
    return SearchResult(
        best=list(candidates.values())[index],
        best_reward=finals[index],
        best_per_budget=history.best_per_budget,
        rewards=history.rewards,
        evaluations=history.evaluations + len(candidates),
        finals=ranked,
    )


def finalists(
    result: SearchResult, space: SearchSpace, count: int, fixed_schemes: bool = True
) -> list[np.ndarray]:
    """The candidates a stand-alone ranking decides between: the ``count`` best re-scored ones
    by the search's reward and, with ``fixed_schemes``, single-task training (every task on its
    private modules) and hard sharing (every task on pool instance 0 at every layer), distinct.

    The search's reward ranks assignments only roughly (a supernet's scores come from shared
    weights, not from training each one); training the few that matter from scratch picks the
    one that really trains best, and the fixed schemes among them mean the search never
    chooses an assignment that trains worse than they do on validation."""
    chosen = [space.parse(text) for text, _ in result.finals[:count]]
    if fixed_schemes:
        chosen += [space.all_private(), space.hard_sharing()]
    unique: dict[str, np.ndarray] = {}
    for assignment in chosen:
        unique.setdefault(space.format(assignment), assignment)
    return list(unique.values())


class RandomSearch:
    """Uniformly random assignments (the weight-sharing random-search baseline).

    Args:
        space: the search space.
        seed: the sampling seed.
    """

    def __init__(self, space: SearchSpace, seed: int = 0):
        self.space = space
        self.rng = np.random.default_rng(seed)

    def ask(self, count: int) -> list[np.ndarray]:
        """``count`` uniform samples."""
        return [self.space.sample(self.rng) for _ in range(count)]

    def tell(self, assignments: Sequence[np.ndarray], rewards: Sequence[float]) -> None:
        """Random search learns nothing from rewards."""

    def recommend(self) -> list[np.ndarray]:
        """No picks of its own."""
        return []

    def state_dict(self) -> dict:
        """The sampling generator's state."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore the sampling generator."""
        self.rng.bit_generator.state = state["rng"]


class RegularizedEvolution:
    """Regularised (aging) evolution, Real et al. 2019.

    The population holds the ``population_size`` most recent assignments. A child is the best
    of ``sample_size`` random members with one slot mutated to a different option; the oldest
    member dies when a child joins. Until the population is full, proposals are random.

    Args:
        space: the search space.
        population_size: members kept.
        sample_size: the tournament size.
        seed: the seed.
    """

    def __init__(
        self, space: SearchSpace, population_size: int = 20, sample_size: int = 5, seed: int = 0
    ):
        if not 1 <= sample_size <= population_size:
            raise ValueError(
                f"need 1 <= sample_size <= population_size, got {sample_size}, {population_size}"
            )
        self.space = space
        self.population_size = population_size
        self.sample_size = sample_size
        self.rng = np.random.default_rng(seed)
        self.population: deque[tuple[np.ndarray, float]] = deque()

    def _mutate(self, parent: np.ndarray) -> np.ndarray:
        child = parent.copy()
        task = self.rng.integers(child.shape[0])
        layer = self.rng.integers(child.shape[1])
        shift = self.rng.integers(1, self.space.num_options)
        child[task, layer] = (child[task, layer] + shift) % self.space.num_options
        return child

    def ask(self, count: int) -> list[np.ndarray]:
        """Random members while the population fills, then mutated tournament winners."""
        proposals = []
        for _ in range(count):
            if len(self.population) < self.population_size:
                proposals.append(self.space.sample(self.rng))
                continue
            picks = self.rng.choice(len(self.population), self.sample_size, replace=False)
            parent = max((self.population[i] for i in picks), key=lambda member: member[1])[0]
            proposals.append(self._mutate(parent))
        return proposals

    def tell(self, assignments: Sequence[np.ndarray], rewards: Sequence[float]) -> None:
        """Add the scored children; the oldest members age out."""
        for assignment, reward in zip(assignments, rewards, strict=True):
            self.population.append((np.asarray(assignment), float(reward)))
            if len(self.population) > self.population_size:
                self.population.popleft()

    def recommend(self) -> list[np.ndarray]:
        """The best living member."""
        if not self.population:
            return []
        return [max(self.population, key=lambda member: member[1])[0]]

    def state_dict(self) -> dict:
        """The generator's state and the population, oldest first."""
        return {"rng": self.rng.bit_generator.state,
                "population": [(member.tolist(), reward) for member, reward in self.population]}

    def load_state_dict(self, state: dict) -> None:
        """Restore the generator and the population."""
        self.rng.bit_generator.state = state["rng"]
        self.population = deque(
            (np.asarray(member, dtype=np.int64), float(reward))
            for member, reward in state["population"]
        )

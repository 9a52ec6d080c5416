"""Each adapter called exactly the way its host trainer calls it, and the token-id path from the
host's values to one flat batch."""

from __future__ import annotations

import asyncio
import inspect
import pickle
import string
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from skillgym.rewards.adapters import (
    OpenRLHFRewardFunction,
    ReasoningGymScorer,
    TextRewardWrapper,
    TRLRewardFunction,
    VerlComputeScore,
    trl_async_reward_function,
)
from skillgym.rewards.base import (
    Sample,
    SampleBatch,
    as_ids,
    as_ids_batch,
    completion_id_batch,
    completion_texts,
)

COMPLETIONS = ["<think>2+2=4</think><answer>\\boxed{4}</answer>", "<answer>5</answer>",
               "4 " * 30]
SOLUTIONS = ["4", "4", "4"]


def trl_reward_kwargs(inputs: list[dict]) -> dict:
    """The keyword arguments GRPOTrainer._calculate_rewards passes besides the completions."""
    keys = [key for key in inputs[0] if key not in ["prompt", "completion", "completion_ids"]]
    reward_kwargs = {key: [example[key] for example in inputs] for key in keys}
    reward_kwargs["trainer_state"] = SimpleNamespace(global_step=3, epoch=0.1)
    reward_kwargs["log_extra"] = lambda column, values: None
    reward_kwargs["log_metric"] = lambda name, value: None
    return reward_kwargs


def test_trl_plain_completions_with_extra_columns():
    inputs = [{"prompt": "What is 2+2? /think", "solution": solution, "difficulty": 1}
              for solution in SOLUTIONS]
    prompts = [example["prompt"] for example in inputs]
    completion_ids = [[1, 2, 3], [4, 5], [7, 7] * 30]
    accuracy = TRLRewardFunction("accuracy")
    assert accuracy.__name__ == "accuracy"
    assert accuracy(prompts=prompts, completions=COMPLETIONS, completion_ids=completion_ids,
                    **trl_reward_kwargs(inputs)) == [1.0, 0.0, 0.0]
    repetition = TRLRewardFunction("repetition_penalty", unit="tokens", ngram_size=2)
    scores = repetition(prompts=prompts, completions=COMPLETIONS, completion_ids=completion_ids,
                        **trl_reward_kwargs(inputs))
    assert scores == [0.0, 0.0, pytest.approx((1 - 1 / 59) * -1.0)]  # 59 bigrams, one distinct


def test_trl_conversational_completions_and_named_truth_column():
    inputs = [{"prompt": [{"role": "user", "content": "2+2? /think"}], "gold": "4"}]
    prompts = [example["prompt"] for example in inputs]
    completions = [[{"role": "assistant", "content": COMPLETIONS[0]}]]
    total = TRLRewardFunction("weighted_sum", ground_truth_column="gold",
                              components={"accuracy": 1.0, "keye_format": 1.0})
    assert total(prompts=prompts, completions=completions, completion_ids=[[1]],
                 **trl_reward_kwargs(inputs)) == [2.0]
    no_truth = TRLRewardFunction("accuracy")
    assert no_truth(prompts=prompts, completions=completions, completion_ids=[[1]],
                    **trl_reward_kwargs([{"prompt": "p"}])) == [None]


def test_trl_functions_pickle_and_async_variant_is_awaited_like_trl():
    function = TRLRewardFunction("accuracy")
    copy = pickle.loads(pickle.dumps(function))
    assert copy.__name__ == "accuracy"
    kwargs = {"prompts": ["q"] * 3, "completions": COMPLETIONS, "completion_ids": [[1]] * 3,
              "solution": SOLUTIONS}
    assert copy(**kwargs) == [1.0, 0.0, 0.0]

    async_function = trl_async_reward_function("accuracy")
    assert inspect.iscoroutinefunction(async_function)
    assert async_function.__name__ == "accuracy"
    async_copy = pickle.loads(pickle.dumps(async_function))

    async def gather():
        return await asyncio.gather(async_function(**kwargs), async_copy(**kwargs))

    assert asyncio.run(gather()) == [[1.0, 0.0, 0.0]] * 2


def trl_penalty(ids: list[int], ngram_size: int) -> float:
    """TRL's get_repetition_penalty_reward on one completion, from its published formula."""
    if len(ids) < ngram_size:
        return 0.0
    ngrams = list(zip(*[ids[i:] for i in range(ngram_size)], strict=False))
    return (1 - len(set(ngrams)) / len(ngrams)) * -1.0 + 0.0


def test_trl_token_ids_as_python_lists_equal_trls_formula():
    # GRPOTrainer hands completion_ids over as a list of Python lists of varying lengths.
    rng = np.random.default_rng(3)
    lists = [rng.integers(0, rng.integers(1, 9), rng.integers(0, 400)).tolist()
             for _ in range(300)]
    lists += [[], [5], [151_935] * 50, list(range(2_000)) * 2]
    function = TRLRewardFunction("repetition_penalty", unit="tokens", ngram_size=3)
    scores = function(prompts=["p"] * len(lists), completions=[""] * len(lists),
                      completion_ids=lists, solution=["4"] * len(lists))
    assert scores == [trl_penalty(ids, 3) for ids in lists]


def test_trl_token_ids_in_other_forms_score_the_same():
    rows = [[1, 2, 3, 1, 2, 3, 1], [7, 7, 7, 7], [], [2**40, 5, 2**40, 5, 2**40], [-3, -3, -3]]
    expected = [trl_penalty(row, 2) for row in rows]
    function = TRLRewardFunction("repetition_penalty", unit="tokens", ngram_size=2)
    forms = [rows, [tuple(row) for row in rows], [np.array(row, dtype=np.int64) for row in rows],
             [torch.tensor(row, dtype=torch.int64) for row in rows]]
    for form in forms:
        assert function(prompts=[""] * 5, completions=[""] * 5, completion_ids=form) == expected


def test_trl_unusable_token_ids_name_the_sample():
    function = TRLRewardFunction("repetition_penalty", unit="tokens")
    with pytest.raises(ValueError, match="completion_ids .*sample 1"):
        function(prompts=["", ""], completions=["", ""], completion_ids=[[1, 2, 3], [1.5, 2]])


# Host values of token ids: usable or not, every id below 2**32 (one uint32 batch) ...
SMALL_IDS = [[1, 2, 3], [], [0, 2**32 - 1], [True, 2], [True, False], [np.int64(5), 6], (4, 5),
             np.array([1, 2], dtype=np.uint8), np.array([[1, 2]]), [1.5], [1, 2.0], ["a"],
             [None], [[1, 2]], None, "12", 7, [2**64], torch.tensor([3, 4]),
             torch.tensor([0.5])]
# ... and ids that need 64 bits.
IDS = SMALL_IDS + [[2**32], [-1, 2], [2**63 - 1, -(2**63)]]


def test_as_ids_agrees_with_numpys_reading_of_every_value():
    for value in IDS:
        ids = as_ids(value)
        if isinstance(value, torch.Tensor):
            value = value.numpy()
        try:
            array = np.asarray(value)
        except (TypeError, ValueError, OverflowError):
            array = np.asarray([object()])
        usable = array.ndim == 1 and (array.size == 0 or array.dtype.kind in "iub")
        if not usable:
            assert ids is None, value
        else:
            assert ids.dtype == np.int64 and ids.tolist() == array.astype(np.int64).tolist()


@pytest.mark.parametrize("rows", [SMALL_IDS, IDS])
def test_as_ids_batch_is_as_ids_row_by_row(rows):
    batch, usable = as_ids_batch(rows)
    singles = [as_ids(row) for row in rows]
    assert usable.tolist() == [ids is not None for ids in singles]
    assert [batch[index].tolist() for index in range(len(rows))] == [
        [] if ids is None else ids.tolist() for ids in singles]
    in_range = all(ids is None or not ids.size or (ids.min() >= 0 and ids.max() < 2**32)
                   for ids in singles)
    assert batch.values.dtype == (np.uint32 if in_range else np.int64)


def test_sample_ids_are_coerced_when_first_read():
    sample = Sample.build("x", completion_ids=[1.5, "a"])
    assert sample.completion_ids is None  # built without raising, unusable when read
    assert Sample.build("x", completion_ids=(3, 4)).completion_ids.tolist() == [3, 4]
    assert Sample("x").completion_ids is None
    with pytest.raises(AttributeError):
        sample.completion_ids = [1]  # frozen


def test_sample_batch_builds_samples_on_demand_from_its_columns():
    batch = SampleBatch(["a", b"\xffb", None], prompts=["p", "q", "r"],
                        ground_truths=[1, 2, 3], completion_ids=[[1], [2, 3], [4.5]],
                        extra={"level": [7, 8, 9]})
    assert len(batch) == 3
    assert completion_texts(batch) == ["a", "\ufffdb", ""]
    ids, usable = completion_id_batch(batch)
    assert ids.values.tolist() == [1, 2, 3] and usable.tolist() == [True, True, False]
    second = Sample.build(b"\xffb", "q", 2, [2, 3], {"level": 8})
    assert (batch[1].completion, batch[1].prompt, batch[1].ground_truth, batch[1].extra) == (
        second.completion, second.prompt, second.ground_truth, second.extra)
    assert batch[1].completion_ids.tolist() == [2, 3]
    assert batch[1] is batch[-2] is list(batch)[1]  # built once
    assert [sample.completion for sample in batch[::2]] == ["a", ""]
    # the columns of a plain list of samples read the same
    assert completion_texts(list(batch)) == completion_texts(batch)
    assert completion_id_batch(list(batch))[0].values.tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="prompts"):
        SampleBatch(["a", "b"], prompts=["p"])
    with pytest.raises(ValueError, match="level"):
        SampleBatch(["a"], extra={"level": [1, 2]})


def test_verl_positional_keyword_and_batch_forms():
    compute_score = VerlComputeScore("accuracy")
    assert compute_score("openai/gsm8k", COMPLETIONS[0], "4") == 1.0
    assert compute_score("openai/gsm8k", COMPLETIONS[1], "4", {"split": "train"}) == 0.0
    assert compute_score(data_source="x", solution_str=COMPLETIONS[0], ground_truth="4",
                         extra_info=None) == 1.0
    assert compute_score.batch(data_sources=["x"] * 3, solution_strs=COMPLETIONS,
                               ground_truths=SOLUTIONS,
                               extra_infos=[{"index": i} for i in range(3)]) == [1.0, 0.0, 0.0]
    # verl's batch manager hands over numpy object arrays
    assert compute_score.batch(data_sources=np.array(["x"] * 3, dtype=object),
                               solution_strs=np.array(COMPLETIONS, dtype=object),
                               ground_truths=np.array(SOLUTIONS, dtype=object),
                               extra_infos=np.array([None] * 3, dtype=object)) == [1.0, 0.0, 0.0]
    assert VerlComputeScore("accuracy", missing_score=-1.0)("x", "4", None) == -1.0


def test_verl_dict_return_logs_the_same_keys_for_every_sample():
    compute_score = VerlComputeScore("weighted_sum", return_dict=True,
                                     components={"accuracy": 1.0, "keye_format": 0.5})
    first = compute_score("x", COMPLETIONS[0], "4", {"prompt": "Q /think"})
    assert first == {"score": 1.5, "accuracy": 1.0, "keye_format": 1.0}
    batch = compute_score.batch(["x"] * 3, COMPLETIONS, SOLUTIONS,
                                [{"prompt": "Q /think"}] * 3)
    assert [set(entry) for entry in batch] == [set(first)] * 3
    assert VerlComputeScore("loop", return_dict=True)("x", "a", None) == {"score": 0.0}


def test_openrlhf_reward_func_returns_its_dict():
    reward_func = OpenRLHFRewardFunction("weighted_sum",
                                         components={"accuracy": 1.0, "loop": 1.0})
    prompts = ["<|im_start|>user\n2+2? /think<|im_end|>\n<|im_start|>assistant\n"] * 3
    queries = [prompt + completion for prompt, completion in zip(prompts, COMPLETIONS,
                                                                 strict=True)]
    output = reward_func(queries, prompts, SOLUTIONS)
    assert set(output) == {"rewards", "scores", "extra_logs"}
    assert isinstance(output["rewards"], torch.Tensor)
    assert output["rewards"].tolist() == [1.0, 0.0, -1.0]  # the third loops "4 4 4 ..."
    assert output["scores"].tolist() == output["rewards"].tolist()
    assert output["extra_logs"]["loop"].tolist() == [0.0, 0.0, -1.0]
    assert output["extra_logs"]["accuracy"].tolist() == [1.0, 0.0, 0.0]


def test_reasoning_gym_score_answer():
    score_answer = ReasoningGymScorer("accuracy")
    entry = {"question": "What is 3/4 + 1/4?", "answer": "1", "metadata": {"difficulty": 1}}
    assert score_answer("1", entry) == 1.0
    assert score_answer("1.0", entry) == 1.0
    assert score_answer(None, entry) == 0.0
    assert score_answer("1", None) == 0.0


class EchoQuestionEnv(gym.Env):
    """One-step text env: observe a question, answer it in text (a test fixture)."""

    observation_space = gym.spaces.Text(200, min_length=0, charset=string.printable)
    action_space = gym.spaces.Text(200, min_length=0, charset=string.printable)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return "What is 2+2? /think", {"ground_truth": "4"}

    def step(self, action):
        return "", 0.25, True, False, {}


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped")
def test_gym_wrapper_scores_the_text_action():
    env = TextRewardWrapper(EchoQuestionEnv(), "accuracy")
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(COMPLETIONS[0])
    assert (reward, terminated) == (1.0, True)
    assert info["reward_plugin"]["name"] == "accuracy"
    added = TextRewardWrapper(EchoQuestionEnv(), "keye_format", combine="add")
    added.reset()
    assert added.step(COMPLETIONS[0])[1] == pytest.approx(1.25)
    added.reset()
    assert added.step("no tags")[1] == pytest.approx(0.25)  # /think asked, plain answer given
    check_env(TextRewardWrapper(EchoQuestionEnv(), "loop"), skip_render_check=True)
    with pytest.raises(ValueError, match="combine"):
        TextRewardWrapper(EchoQuestionEnv(), "loop", combine="multiply")

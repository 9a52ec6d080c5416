"""The reward cache file."""

from __future__ import annotations

import pytest

from skillgym.envs.mtnas.cache import RewardCache


def test_corrupt_cache_file_is_named(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a", "evaluation": {"validation": {}}}\nnot json\n')
    with pytest.raises(ValueError, match=r"cache\.jsonl:2: not a reward-cache record"):
        RewardCache(path)

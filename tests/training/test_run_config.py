"""Run configuration: layering, typing by the defaults, one-line errors, TOML round trip."""

from __future__ import annotations

import pytest
import tomllib
from hypothesis import given, settings
from hypothesis import strategies as st

from skillgym.training.config import (
    ConfigError,
    OpenTable,
    dumps_toml,
    flat_keys,
    get,
    load_toml,
    merge,
    parse_override,
    resolve,
)

DEFAULTS = {
    "seed": 0,
    "name": "run",
    "env": {"id": "CartPole-v1", "n_envs": 4, "kwargs": {}},
    "ppo": {"learning_rate": 3e-4, "normalize": False, "net_arch": [64, 64]},
}


def test_defaults_alone_are_the_config_and_are_not_shared():
    config = resolve(DEFAULTS)
    assert config == DEFAULTS
    config["ppo"]["net_arch"].append(1)
    assert DEFAULTS["ppo"]["net_arch"] == [64, 64]


def test_flat_keys_treat_free_form_tables_as_leaves():
    assert flat_keys(DEFAULTS) == [
        "seed", "name", "env.id", "env.n_envs", "env.kwargs",
        "ppo.learning_rate", "ppo.normalize", "ppo.net_arch",
    ]


def test_an_open_table_keeps_its_entries_and_accepts_new_keys():
    defaults = {"rewards": OpenTable(accuracy=1.0, loop=0.5), "steps": 1}
    assert flat_keys(defaults) == ["rewards", "steps"]
    config = resolve(defaults, {"rewards": {"loop": 0.0}},
                     ["rewards.autothink=1.0", "rewards.cosine_length.weight=0.1"])
    assert config["rewards"] == {"accuracy": 1.0, "loop": 0.0, "autothink": 1.0,
                                 "cosine_length": {"weight": 0.1}}
    assert tomllib.loads(dumps_toml(config)) == config
    assert defaults["rewards"] == {"accuracy": 1.0, "loop": 0.5}
    with pytest.raises(ConfigError, match="is a table"):
        resolve(defaults, {"rewards": 3})


def test_file_then_overrides_in_order():
    file = {"seed": 3, "ppo": {"learning_rate": 1e-3}, "env": {"kwargs": {"digits": 5}}}
    config = resolve(DEFAULTS, file, ["seed=7", "env.kwargs.mode=fast", "ppo.net_arch=[8]"])
    assert config["seed"] == 7
    assert config["ppo"] == {"learning_rate": 1e-3, "normalize": False, "net_arch": [8]}
    # A free-form table keeps the file's keys and gains the override's.
    assert config["env"]["kwargs"] == {"digits": 5, "mode": "fast"}
    assert config["env"]["n_envs"] == 4


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("ppo.learning_rate=1e-3", "ppo.learning_rate", 1e-3),
        # An int where a float is expected is the same number, stored as a float.
        ("ppo.learning_rate=1", "ppo.learning_rate", 1.0),
        ("ppo.normalize=true", "ppo.normalize", True),
        ("env.n_envs=16", "env.n_envs", 16),
        ("ppo.net_arch=[32, 16]", "ppo.net_arch", [32, 16]),
        # String keys take the text verbatim: no quotes needed, and '=' may appear in it.
        ("env.id=skillgym/AEC-Add-v0", "env.id", "skillgym/AEC-Add-v0"),
        ("name=a=b", "name", "a=b"),
        ("env.kwargs.digits=5", "env.kwargs", {"digits": 5}),
        ('env.kwargs.label="5"', "env.kwargs", {"label": "5"}),
    ],
)
def test_override_values_are_typed_by_the_default(text, key, expected):
    value = get(resolve(DEFAULTS, overrides=[text]), key)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ppo.lerning_rate=1e-3", "unknown config key 'ppo.lerning_rate'; did you mean "
                                  "'ppo.learning_rate'?"),
        ("sead=1", "unknown config key 'sead'; did you mean 'seed'?"),
        ("nothing.like.it=1", "unknown config key 'nothing.like.it'; known keys: seed, name, "
                              "env.id, env.n_envs, env.kwargs, ppo.learning_rate, "
                              "ppo.normalize, ppo.net_arch"),
        ("env.n_envs=4.5", "config key 'env.n_envs' expects int, got 4.5 (float)"),
        ("env.n_envs=many", "config key 'env.n_envs' expects int, got 'many'"),
        ("env.n_envs=true", "config key 'env.n_envs' expects int, got True (bool)"),
        ("ppo.normalize=1", "config key 'ppo.normalize' expects bool, got 1 (int)"),
        ("ppo.net_arch=[8, 1.5]", "config key 'ppo.net_arch[1]' expects int, got 1.5 (float)"),
        ("ppo=1", "config key 'ppo' is a table, got 1"),
        ("seed", "override 'seed' is not of the form key=value"),
        ("=3", "override '=3' is not of the form key=value"),
    ],
)
def test_bad_overrides_name_the_key_in_one_line(text, message):
    with pytest.raises(ConfigError) as raised:
        resolve(DEFAULTS, overrides=[text])
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)


def test_unknown_key_in_a_file_table_is_named_with_its_full_path():
    with pytest.raises(ConfigError, match=r"unknown config key 'ppo\.n_step'"):
        resolve(DEFAULTS, {"ppo": {"n_step": 5}})


def test_file_value_of_wrong_type():
    with pytest.raises(ConfigError, match=r"'env\.id' expects string, got 3 \(int\)"):
        resolve(DEFAULTS, {"env": {"id": 3}})


def test_merge_checks_against_the_schema_not_the_base():
    # After a file fills a free-form table, an override may still add a new key to it.
    base = merge(DEFAULTS, DEFAULTS, {"env": {"kwargs": {"a": 1}}})
    assert merge(DEFAULTS, base, parse_override("env.kwargs.b=2", DEFAULTS))["env"]["kwargs"] == {
        "a": 1, "b": 2}


def test_load_toml_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 1\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_toml(bad)


def test_dumps_toml_round_trips_the_defaults():
    assert tomllib.loads(dumps_toml(DEFAULTS)) == DEFAULTS


_keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
_scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
)
_values = st.recursive(
    _scalars | st.lists(st.integers(-100, 100), max_size=4),
    lambda inner: st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)


def test_dumps_toml_quotes_a_key_that_ends_in_a_newline():
    # "$" in a regular expression also matches before a final newline: such a key is not bare.
    assert tomllib.loads(dumps_toml({"0\n": {}, "a\n": 1})) == {"0\n": {}, "a\n": 1}


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=6))
def test_dumps_toml_round_trips_any_config(config):
    assert tomllib.loads(dumps_toml(config)) == config

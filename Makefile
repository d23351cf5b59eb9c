# The two commands of the README's quick start:
#   make book   builds the HTML book into _build/html (installs what it needs into .venv)
#   make test   runs everything CI runs: lint, the -W book build, the unit tests (with the
#               prose limits and the real-browser check of the built pages), and nbval on every
#               chapter twice (strict), as three jobs at once
# Other targets: make unit (the quick unit tests while editing), make prose (the prose table),
# make nbval / make nbval-variant (one of the two comparisons), make notebooks (re-execute every
# chapter and save outputs), make stress (the 12-variant matrix behind book/checked.md, ~40 min
# on 2 cores), make stress-seeds (Part I's claims over 8 seeds), make colab (write the Colab
# edition colab/ from the chapters), make colab-check (the Colab stand-in: every Colab notebook
# run in a fresh Python 3.13 venv, ~15 min; result in book/_data/colab_check.json), make bench,
# make clean.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Under CPU contention PyTorch's OpenMP threads spin while they wait, 10-60x slower.
export OMP_WAIT_POLICY := PASSIVE

.PHONY: venv book test lint prose unit tests-and-browser nbval nbval-variant notebooks stress \
	stress-seeds colab colab-check bench clean

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with book/sanitize.cfg \
	--nbval-cell-timeout 600 -p no:cacheprovider
# CI compares every chapter twice, both runs at once on its 2 cores, one thread each. Compared
# cells print only what is the same on every machine, and the stress matrix runs every chapter
# on 1 and on 2 threads, so one thread compares the same outputs as two.
NATIVE  := RESNET_EDU_STRICT=1 RESNET_EDU_THREADS=1
# Another reader's machine, stood in for: PyTorch limited to AVX2 kernels, another seed. A
# machine-dependent output that slipped into a strictly compared cell fails here.
VARIANT := $(NATIVE) ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 RESNET_EDU_SEED=1
# Part I's chapters: their claims also hold over more seeds (issue 17; make stress-seeds).
PART_I  := book/01_degradation.ipynb book/02_residual_learning.ipynb \
	book/03_why_plain_nets_fail.ipynb

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# -W: a warning (a broken link, a missing figure, a failed cross-reference) fails the build.
book: $(STAMP)
	$(BIN)/jupyter-book build -W -n --keep-going --all .

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Three jobs at once, each on one core's worth of work, so the 2 cores stay busy to the end:
# the book build and then the unit tests (they read the built pages), and the two nbval runs.
# Each job's output is printed when it ends.
test: lint
	$(MAKE) --no-print-directory -j3 --output-sync=target tests-and-browser nbval nbval-variant

tests-and-browser: book
	RESNET_EDU_STRICT=1 $(BIN)/python -m pytest tests -q

# The unit tests without those marked slow (the biggest models, subprocesses, a fresh venv, the
# browser), on both cores: a quick check while editing. make test runs them all.
unit: $(STAMP)
	$(BIN)/python -m pytest tests -x -q -m "not slow" -n 2 --dist loadscope

# The prose of every page and the whole book against the limits (tools/prose_stats.py); make
# test checks the same limits (tests/test_book_notebooks.py).
prose: $(STAMP)
	$(BIN)/python -m tools.prose_stats

nbval: $(STAMP)
	$(NATIVE) $(BIN)/python -m pytest book $(NBVAL)

nbval-variant: $(STAMP)
	$(VARIANT) $(BIN)/python -m pytest book $(NBVAL)

notebooks: $(STAMP)
	$(BIN)/python -m tools.notebooks run --all

stress: $(STAMP)
	$(BIN)/python -m tools.stress --all --jobs 2 --write-page

stress-seeds: $(STAMP)
	$(BIN)/python -m tools.stress --matrix seeds --seeds 8 --jobs 2 --write-page $(PART_I)

colab: $(STAMP)
	$(BIN)/python -m tools.colab build

# Colab as closely as we can offline: Python 3.13, Colab's torch/torchvision and the packages it
# ships, but neither resnet_edu nor torchinfo (each notebook's setup cell installs them from
# this checkout, RESNET_EDU_SOURCE). A new venv every time. Another interpreter:
# make colab-check COLAB_PYTHON=/path/to/python3.13 (e.g. pyenv's ~/.pyenv/versions/3.13.0/bin/python3.13).
COLAB_PYTHON ?= python3.13
COLAB_VENV   := _build/colab-venv
colab-check: colab
	rm -rf $(COLAB_VENV)
	$(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install -q "torch==2.11.*" "torchvision==0.26.*" numpy \
		matplotlib scikit-learn tqdm ipywidgets ipykernel nbclient nbformat
	$(BIN)/python -m tools.colab standin --python $(COLAB_VENV)/bin/python

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_models.py --quick
	$(BIN)/python benchmarks/bench_gradflow.py
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf _build

# The two commands of the README's quick start:
#   make book   builds the HTML book into _build/html (installs what it needs into .venv)
#   make test   runs everything CI runs: lint, unit tests, the -W book build, nbval on every
#               chapter (strict), and the real-browser check of the built pages
# Other targets: make notebooks (re-execute every chapter and save outputs), make stress (the
# 12-variant matrix behind book/checked.md, ~40 min on 2 cores), make colab (write the Colab
# edition colab/ from the chapters), make colab-check (the Colab stand-in: every Colab notebook
# run in a fresh Python 3.13 venv, ~15 min; result in book/_data/colab_check.json), make bench,
# make clean.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv book test lint unit nbval nbval-variant notebooks stress colab colab-check bench clean

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with book/sanitize.cfg \
	--nbval-cell-timeout 600 -p no:cacheprovider
# Another reader's machine, stood in for: PyTorch limited to AVX2 kernels, another seed. A
# machine-dependent output that slipped into a strictly compared cell fails here.
VARIANT := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 RESNET_EDU_SEED=1

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

# Unit tests, nbval (strict: every output is compared, a false claim fails) and the browser
# check in one run; then the chapters again under another machine's stand-in.
test: lint book
	RESNET_EDU_STRICT=1 $(BIN)/python -m pytest tests book $(NBVAL)
	$(MAKE) nbval-variant

# The unit tests without those marked slow (the biggest models, a fresh venv): a quick check
# while editing the library. make test runs them all.
unit: $(STAMP)
	$(BIN)/python -m pytest tests -x -q -m "not slow"

nbval: $(STAMP)
	RESNET_EDU_STRICT=1 $(BIN)/python -m pytest book $(NBVAL)

nbval-variant: $(STAMP)
	$(VARIANT) RESNET_EDU_STRICT=1 $(BIN)/python -m pytest book $(NBVAL)

notebooks: $(STAMP)
	$(BIN)/python tools/notebooks.py run --all

stress: $(STAMP)
	$(BIN)/python tools/notebooks.py stress --all --jobs 2 --write-page

colab: $(STAMP)
	$(BIN)/python tools/colab.py build

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
	$(BIN)/python tools/colab.py standin --python $(COLAB_VENV)/bin/python

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_models.py --quick
	$(BIN)/python benchmarks/bench_gradflow.py
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf _build

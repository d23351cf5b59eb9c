# The two commands of the README's quick start:
#   make book   builds the HTML book into _build/html (installs what it needs into .venv)
#   make test   runs everything CI runs: lint, unit tests, the -W book build, nbval on every
#               chapter (strict), and the real-browser check of the built pages
# Other targets: make notebooks (re-execute every chapter and save outputs), make bench, make clean.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv book test lint unit nbval notebooks bench clean

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

# Unit tests, nbval (strict: every output is compared) and the browser check, in one run.
test: lint book
	RESNET_EDU_STRICT=1 $(BIN)/python -m pytest tests book --nbval --nbval-current-env \
		--nbval-sanitize-with book/sanitize.cfg --nbval-cell-timeout 600 -p no:cacheprovider

unit: $(STAMP)
	$(BIN)/python -m pytest tests -x -q

nbval: $(STAMP)
	RESNET_EDU_STRICT=1 $(BIN)/python -m pytest book --nbval --nbval-current-env --nbval-sanitize-with book/sanitize.cfg

notebooks: $(STAMP)
	$(BIN)/python tools/notebooks.py run --all

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_models.py --quick
	$(BIN)/python benchmarks/bench_gradflow.py
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf _build

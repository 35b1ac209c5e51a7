# fasolfa — the two commands a new user needs are `make demo` and `make test`.
# Both call `make setup`, which installs what is missing: FluidSynth and three soundfonts
# (apt, when run as root; otherwise it prints the exact command), then a virtual
# environment in .venv with torch pinned to 2.13.0 and fasolfa installed in it.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small
TORCH_PIN := torch==2.13.0
DEMO_MIDI := data/examples/phrase.mid
DEMO_DIR := out/demo
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
# hide pip's warnings about unreachable local index folders (pip's own exit status is kept)
QUIET_PIP := 2> >(grep -v "^WARNING: Location" >&2)

.PHONY: help setup system demo test bench notebooks figures train clean peer

help:
	@echo "make demo   install what is missing, then run the demo on data/examples/"
	@echo "make test   install what is missing, then run unit tests and notebook tests"
	@echo "make bench  speed benchmarks, and checks on the shared corpus (skipped without it)"
	@echo "make notebooks  re-execute every notebook in place (full mode) with papermill"
	@echo "make figures  redraw the README's figures (committed notebooks untouched)"
	@echo "make peer   Basic Pitch (ONNX, offline) in its own environment .venv-peer, for comparisons"

setup: system $(VENV)/.installed

# System libraries: libfluidsynth and the soundfonts fasolfa renders with.
system:
	@missing=""; \
	{ ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q libfluidsynth || missing="$$missing fluidsynth"; \
	[ -e /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing="$$missing fluid-soundfont-gm"; \
	[ -e /usr/share/sounds/sf2/TimGM6mb.sf2 ] || missing="$$missing timgm6mb-soundfont"; \
	ls /usr/share/sounds/sf3/MuseScore_General*.sf3 >/dev/null 2>&1 || missing="$$missing musescore-general-soundfont-small"; \
	$(PYTHON) -c "import ensurepip" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "fasolfa: missing system packages:$$missing. Without apt-get, use conda: conda env create -f environment.yml" >&2; exit 1; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "fasolfa: installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	else \
	  echo "fasolfa: missing system packages. Run:  sudo apt-get install -y --no-install-recommends$$missing" >&2; exit 1; fi

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip $(QUIET_PIP)
	$(BIN)/python -m pip install -q "$(TORCH_PIN)" $(QUIET_PIP)
	$(BIN)/python -m pip install -q -e ".[dev]" $(QUIET_PIP)
	@touch $@
	@echo "fasolfa: environment ready in $(VENV) ($$($(BIN)/python -c 'import torch; print("torch", torch.__version__)'))"

# The demo: render the shipped example phrase to audio, then transcribe that audio back to MIDI
# (with the shipped checkpoint, fasolfa/checkpoints/fasolfa.pt) and draw the note posteriorgram
# with the detected notes over it. Both commands print the paths they write.
demo: setup
	$(BIN)/fasolfa render $(DEMO_MIDI) -o $(DEMO_DIR)/phrase.flac --figure $(DEMO_DIR)/phrase.png
	$(BIN)/fasolfa transcribe $(DEMO_DIR)/phrase.flac -o $(DEMO_DIR)/phrase_transcribed.mid \
	  --notes-csv --figure $(DEMO_DIR)/phrase_transcribed.png

# Unit tests, then every notebook through nbval in QUICK mode (seconds each).
test: setup
	FASOLFA_QUICK=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q tests $(NOTEBOOKS) --nbval-lax --nbval-current-env -p no:cacheprovider

bench: setup
	@for script in tests/bench/bench_*.py tests/bench/check_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done
	$(BIN)/python tests/bench/report.py

# Notebooks write the README's figures in figures/ only when FASOLFA_WRITE_FIGURES=1 (an
# environment variable, not a papermill -p parameter, which would inject a cell): a learner's
# own run writes nothing in the repository.
notebooks: setup
	@for nb in $(NOTEBOOKS); do echo "== $$nb"; (cd notebooks && FASOLFA_QUICK=0 FASOLFA_WRITE_FIGURES=1 ../$(BIN)/papermill -k python3 --cwd . --execution-timeout 1800 $$(basename $$nb) $$(basename $$nb)) || exit 1; done

# The README's figures, each drawn by code in this repository: the demo's, then the notebooks'
# (executed into out/figures/, the committed notebooks are left as they are).
figures: setup
	$(BIN)/fasolfa render $(DEMO_MIDI) -o $(DEMO_DIR)/phrase.flac --figure figures/phrase_render.png
	@mkdir -p out/figures
	@for nb in $(NOTEBOOKS); do echo "== $$nb"; (cd notebooks && FASOLFA_QUICK=0 FASOLFA_WRITE_FIGURES=1 ../$(BIN)/papermill -k python3 --cwd . $$(basename $$nb) ../out/figures/$$(basename $$nb)) || exit 1; done

# The real training run: notebook 06 executed by papermill in the background, logged to
# out/train/train.log; its state lives in the cache (TRAIN_RUN), so `make train` again resumes.
TRAIN_RUN ?= $${FASOLFA_CACHE:-$$HOME/.cache/fasolfa}/runs/main
TRAIN_PARAMS ?= -p STEPS 12000 -p TRAIN_HOURS 3 -p BATCH_SIZE 16 -p VALIDATE_EVERY 500 -p WORKERS 1
train: setup
	@mkdir -p out/train
	@if [ -f out/train/pid ] && kill -0 $$(cat out/train/pid) 2>/dev/null; then \
	  echo "fasolfa: training already runs (pid $$(cat out/train/pid)): tail -f out/train/train.log"; exit 0; fi; \
	run_dir=$(TRAIN_RUN); \
	nohup $(BIN)/papermill -k python3 --cwd notebooks --log-output --no-progress-bar notebooks/06_training.ipynb \
	  out/train/06_training.ipynb -p RUN_DIR "$$run_dir" $(TRAIN_PARAMS) >> out/train/train.log 2>&1 & \
	echo $$! > out/train/pid; \
	echo "fasolfa: training in the background (pid $$!), run folder $$run_dir"; \
	echo "  follow it: tail -f out/train/train.log    curves: $$run_dir/curves.png    resume: make train"

# The peer transcriber for `fasolfa evaluate --compare-basic-pitch` and the accuracy bench:
# Basic Pitch in its own environment. basic-pitch pins TensorFlow on Linux, which we avoid: it
# is installed without dependencies, then what its import and inference need, with onnxruntime
# for the ONNX model its wheel ships (no download at run time). fasolfa/peer.py runs it.
PEER := .venv-peer
PEER_PIN := basic-pitch==0.4.0
PEER_PACKAGES := onnxruntime "librosa>=0.8" "resampy>=0.2.2,<0.4.3" scikit-learn "scipy>=1.4.1" \
	"pretty_midi>=0.2.9" "mir_eval>=0.6" numpy typing-extensions setuptools
peer: $(PEER)/.installed

$(PEER)/.installed: Makefile
	@test -x $(PEER)/bin/python || $(PYTHON) -m venv $(PEER)
	$(PEER)/bin/python -m pip install -q --no-deps "$(PEER_PIN)" $(QUIET_PIP)
	$(PEER)/bin/python -m pip install -q --no-warn-conflicts $(PEER_PACKAGES) $(QUIET_PIP)
	@$(PEER)/bin/python -c "import logging; logging.disable(logging.WARNING); import basic_pitch; \
	from basic_pitch.inference import Model; m = Model(basic_pitch.ICASSP_2022_MODEL_PATH); \
	print('fasolfa: Basic Pitch ready in $(PEER), backend', m.model_type.name)"
	@touch $@

clean:
	rm -rf $(VENV) out .pytest_cache

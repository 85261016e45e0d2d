# Two jobs, each doing all of its own set-up on a fresh machine:
#   make lab    create .venv, install the project, start JupyterLab on the explorer notebook
#   make test   the same set-up + the system packages the tests need, then the whole test suite, then the core's
#               tests at the oldest versions allowed (make test-oldest, in .venv-oldest)
# For a GPU machine that reaches no registry (see docs/gpu.md): `make gpu-wheels` here, then carry .whl/ there
# and run `make gpu-check` (or .ci/gpu-check) there.
# Options: PORT=8888 (make lab), IP=127.0.0.1 (make lab), PYTHON=python3 (to create .venv), WORKERS=2 (make test:
#          pytest-xdist processes; each runs whole test files, so a notebook's cells share one kernel)

PYTHON   ?= python3
PORT     ?= 8888
IP       ?= 127.0.0.1
WORKERS  ?= 2
XDIST    := -n $(WORKERS) --dist loadfile
VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
EXTRAS   := lab,baselines,dev,sweeps
NOTEBOOK := notebooks/explorer.ipynb
# The Voila page template the explorer notebook names (a page that loads nothing from the internet). An editable
# install leaves out pyproject.toml's data files, so the install links it into the venv's Jupyter data directory.
VOILA_TEMPLATE := share/jupyter/voila/templates/lab-offline

# Debian packages the tests need: a browser for the real-browser tests, real Fashion-MNIST files for offline data, a
# PostgreSQL server for the shared sweep's tests (they start a throwaway cluster of their own).
APT_PACKAGES := chromium dataset-fashion-mnist postgresql

ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test test-oldest install system-packages gpu-wheels gpu-check

# The link the server prints opens the explorer notebook (JupyterLab's landing page, default_url); the browser
# test tests/test_browser_lab_link.py starts exactly this command (`make -n lab`) and opens that link.
lab: $(STAMP)
	$(PY) -m jupyter lab --LabApp.default_url=/lab/tree/$(NOTEBOOK) --ip=$(IP) --port=$(PORT) --no-browser $(ROOT_FLAG)

test: $(STAMP) system-packages
	@mkdir -p test-artifacts
	GDTUO_FAST=1 $(PY) -m pytest $(XDIST) tests $(wildcard notebooks/*.ipynb) --nbval-lax \
	  --nbval-current-env -ra --durations=25 \
	  && $(MAKE) --no-print-directory test-oldest \
	  && echo "== make test: ALL PASSED ==" \
	  || { echo "== make test: FAILED (see the summary above; screenshots in test-artifacts/) =="; exit 1; }

# The core library at the oldest versions pyproject.toml allows, in a second environment (.venv-oldest): the wheel
# built with setuptools 68.0.0 (the build's lower bound), then the core's tests with torch 2.13.0 (a CPU wheel that
# pip finds on these machines) and numpy 1.26.4.
OLDEST       := .venv-oldest
OLDEST_PY    := $(OLDEST)/bin/python
OLDEST_PINS  := torch==2.13.0 numpy==1.26.4
OLDEST_TESTS := tests/test_hyperoptimizer.py tests/test_torch_semantics.py tests/test_precision.py \
  tests/test_tensor_path.py tests/test_schedules.py tests/test_auto.py tests/test_auto_graph.py tests/test_copy.py \
  tests/test_checkpoint_dcp.py tests/test_ddp.py

test-oldest: $(OLDEST)/.installed
	GDTUO_FAST=1 PYTHONPATH=$(CURDIR) $(OLDEST_PY) -m pytest $(XDIST) $(OLDEST_TESTS) \
	  -p no:cacheprovider -ra \
	  --deselect tests/test_auto.py::test_a_registered_level_is_in_spec_text_the_command_line_and_the_explorer_menu

$(OLDEST)/.installed: pyproject.toml
	rm -rf $(OLDEST)
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST_PY) -m pip install setuptools==68.0.0 wheel
	$(OLDEST_PY) -m pip wheel --no-deps --no-build-isolation -w $(OLDEST)/wheel .
	$(OLDEST_PY) -m pip install $(OLDEST_PINS) scikit-learn pytest pytest-timeout pytest-xdist \
	  gradient-descent-the-ultimate-optimizer==1.0 lion-pytorch
	@touch $@

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changes (or the venv is new).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[$(EXTRAS)]'
	mkdir -p $(VENV)/share/jupyter/voila/templates
	ln -sfn $(CURDIR)/$(VOILA_TEMPLATE) $(VENV)/$(VOILA_TEMPLATE)
	@touch $@

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "ERROR: the tests need the Debian packages:$$missing (no apt-get here: install their equivalents by hand)"; exit 1; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v sudo >/dev/null; then SUDO="sudo"; \
	else echo "ERROR: the tests need the Debian packages:$$missing; run as root or install sudo"; exit 1; fi; \
	echo "Installing system packages:$$missing"; \
	$$SUDO apt-get update && \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing

# The packages a GPU machine's PyTorch image lacks (the explorer's widgets and the test oracles), as pure or
# manylinux wheels for its Python 3.12, downloaded here into .whl/ (git-ignored; ~21 MB).
GPU_WHEELS := plotly anywidget psygnal ipywidgets widgetsnbextension jupyterlab_widgets comm traitlets ipython \
  ipython_pygments_lexers decorator jedi parso matplotlib-inline pexpect ptyprocess prompt_toolkit wcwidth \
  stack_data executing asttokens pure_eval nbformat fastjsonschema jsonschema jsonschema-specifications \
  referencing rpds-py jupyter_core platformdirs prodigyopt dadaptation schedulefree \
  gradient-descent-the-ultimate-optimizer==1.0

gpu-wheels: $(STAMP)
	rm -rf .whl
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl $(GPU_WHEELS)

gpu-check:
	.ci/gpu-check

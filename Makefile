# Set-up and checks in one command each. torch is installed only when missing, and pinned (an unpinned torch would
# follow the newest release wherever it leads); the kernels are built against whichever torch is installed. From the
# default index, Linux gets the CUDA build of torch (several GB); for the CPU build on a machine without a GPU, set
# TORCH_INDEX=https://download.pytorch.org/whl/cpu.
PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
PIP = $(PYTHON) -m pip install --disable-pip-version-check

.PHONY: train demo test bench check-cuda build torch test-deps

train: build                 ## install, build the kernels, train on the built-in dataset (the main job)
	$(PYTHON) -m stylegan.train

demo: build                  ## install, build the kernels, run the ops demo
	$(PYTHON) -m stylegan_ops.demo

test: build test-deps        ## install, build the kernels, run the test suite
	$(PYTHON) -m pytest

bench: build test-deps       ## fused vs reference benchmarks
	$(PYTHON) -m pytest benchmarks/ --benchmark-only

check-cuda: torch            ## compile every CUDA source with plain nvcc (sm_80, sm_90) and syntax-check the bindings
	$(PYTHON) tools/check_cuda.py

build: torch
	$(PIP) "setuptools>=64" wheel ninja
	$(PIP) --no-build-isolation -e .

torch:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))

test-deps:
	$(PIP) "pytest>=7" "hypothesis>=6" "pytest-benchmark>=4" imageio-ffmpeg

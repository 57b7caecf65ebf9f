# Set-up and checks in one command each. torch is installed only when missing, pinned (never an unpinned torch: that
# would pull several GB of CUDA wheels); the kernels are built against whichever torch is installed.
PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
PIP = $(PYTHON) -m pip install --disable-pip-version-check

.PHONY: demo test bench check-cuda build torch test-deps

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
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) torch==$(TORCH_VERSION)

test-deps:
	$(PIP) "pytest>=7" "hypothesis>=6" "pytest-benchmark>=4"

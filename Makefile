# Set-up and checks in one command each. torch is installed only when missing, and pinned (an unpinned torch would
# follow the newest release wherever it leads); the kernels are built against whichever torch is installed. From the
# default index, Linux gets the CUDA build of torch (several GB); for the CPU build on a machine without a GPU, set
# TORCH_INDEX=https://download.pytorch.org/whl/cpu.
PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
PIP = $(PYTHON) -m pip install --disable-pip-version-check

.PHONY: train demo test bench check-cuda check-cuda-build test-cuda-emulated gpu-check gpu-wheels build torch test-deps

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

check-cuda-build:            ## build the whole CUDA extension against torch 2.14.1 (CUDA) in a venv outside the checkout, check it
	$(PYTHON) tools/check_cuda_build.py

test-cuda-emulated: torch test-deps  ## the op tests on the CUDA kernels run on the CPU, under AddressSanitizer and UBSan
	$(PIP) ninja
	$(PYTHON) tools/test_cuda_emulated.py

gpu-check:                   ## on a GPU machine: build for sm_90, tests on CUDA, compute-sanitizer, benchmarks (OUT=dir)
	bash tools/gpu_check.sh $(or $(OUT),gpu-check)

gpu-wheels:                  ## wheels for a GPU machine without the network (Python 3.12; about 40 MB, no imageio-ffmpeg: GIF)
	$(PYTHON) -m pip download --disable-pip-version-check --only-binary=:all: --python-version 3.12 \
		--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d .gpu-wheels \
		"hypothesis>=6" "pytest-benchmark>=4" numpy scipy safetensors pillow tqdm tensorboard

build: torch
	$(PIP) "setuptools>=64" wheel ninja
	$(PIP) --no-build-isolation -e .

torch:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))

test-deps:
	$(PIP) "pytest>=7" "hypothesis>=6" "pytest-benchmark>=4" imageio-ffmpeg httpx2 "playwright>=1.40" \
		"fastapi>=0.100" "uvicorn>=0.23"

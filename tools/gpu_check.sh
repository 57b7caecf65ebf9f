#!/usr/bin/env bash
# The GPU day in one command, from a plain checkout on a machine with one NVIDIA GPU (an H100: at most 8 minutes):
#   1. build the extension for sm_90 only (editable, in the checkout) and report it (python -m stylegan_ops.info);
#   2. the whole test suite on CUDA, failing if any test that needs CUDA was skipped;
#   3. compute-sanitizer memcheck, racecheck and synccheck on a small case of every kernel (tools/gpu_kernel_cases.py);
#   4. the benchmarks on CUDA: each op's GB/s against a measured device-to-device copy, the generator and the
#      training step, fused vs reference.
# Logs and a summary table (summary.md) go to OUT_DIR. Each step has its own time limit; a failed step is reported
# and the next one still runs; the exit status says whether all passed.
#
#     bash tools/gpu_check.sh OUT_DIR                  # make gpu-check OUT=OUT_DIR
#
# Needs torch with CUDA, ninja and pytest; hypothesis and pytest-benchmark (and the package's own dependencies) are
# installed first from ./.gpu-wheels when that folder exists (`make gpu-wheels` fills it on a machine with the
# network, for a GPU machine without one: name .gpu-wheels in the device tool's `carry`).
set -uo pipefail
OUT=$(mkdir -p "${1:?usage: tools/gpu_check.sh OUT_DIR}" && cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
SUMMARY=$OUT/summary.md
status=0
printf '| step | result | seconds |\n|---|---|---|\n' > "$SUMMARY"

step() {  # step NAME LIMIT_SECONDS COMMAND...: runs COMMAND with its output in OUT/NAME.log
    local name=$1 limit=$2 start=$SECONDS rc result
    shift 2
    timeout "$limit" bash -c '"$@"' "$name" "$@" > "$OUT/$name.log" 2>&1  # a new shell: the steps are functions
    rc=$?
    case $rc in
        0) result=ok ;;
        124) result="TIMED OUT after $limit s" ;;
        *) result="FAILED (exit $rc)" ;;
    esac
    [ $rc -eq 0 ] || status=1
    printf '| %s | %s | %d |\n' "$name" "$result" $((SECONDS - start)) >> "$SUMMARY"
    echo "gpu_check: $name: $result ($((SECONDS - start)) s)"
}

environment() {
    nvidia-smi
    "$PY" -c "import sys, torch; print(sys.version); print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
'cuDNN', torch.backends.cudnn.version()); print(torch.cuda.get_device_name(), torch.cuda.get_device_capability())"
    command -v nvcc && nvcc --version
    command -v compute-sanitizer && compute-sanitizer --version
    if [ -d .gpu-wheels ]; then
        "$PY" -m pip install --no-index --find-links .gpu-wheels "hypothesis>=6" "pytest-benchmark>=4" numpy \
            scipy safetensors pillow tqdm tensorboard
    fi
}

build() {
    STYLEGAN_OPS_BUILD=cuda TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=${MAX_JOBS:-16} \
        "$PY" -m pip install --no-build-isolation --no-deps -v -e . &&
        "$PY" -m stylegan_ops.info | tee /dev/stderr | grep -q "cuda kernels  yes"
}

tests() {
    "$PY" -m pytest -q -p no:cacheprovider -rs --durations=20 tests/ | tee "$OUT/tests-report.txt"
    local rc=${PIPESTATUS[0]}
    if grep -i "SKIPPED.*\(cuda\|gpu\)" "$OUT/tests-report.txt"; then
        echo "gpu_check: tests that need CUDA were skipped"
        return 1
    fi
    return "$rc"
}

sanitize() {  # sanitize TOOL: every kernel case under compute-sanitizer's TOOL, only our kernels instrumented
    compute-sanitizer --tool "$1" --error-exitcode 1 --kernel-name kns=stylegan_ops \
        "$PY" tools/gpu_kernel_cases.py --device cuda
}

benchmarks() {
    # The compiled 256x256 generator is left out: its compilation alone could use up this step's minute.
    "$PY" -m pytest benchmarks/ --benchmark-only -p no:cacheprovider -k "cuda and not (compiled and 256)" \
        --benchmark-min-rounds=5 \
        --benchmark-max-time=0.2 --benchmark-json="$OUT/benchmarks.json"
}

export OUT PY
export -f environment build tests sanitize benchmarks
# The limits add up to 8 minutes.
step environment 30 environment
step build 120 build
step tests 150 tests
step memcheck 45 sanitize memcheck
step racecheck 45 sanitize racecheck
step synccheck 30 sanitize synccheck
step benchmarks 60 benchmarks
cat "$SUMMARY"
exit $status

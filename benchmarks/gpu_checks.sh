#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, in one run (about 5 minutes on an H100/H200):
# the CUDA-marked tests, the whole suite with --device auto meaning CUDA, the
# 64-frame CUDA benchmark and batch throughput with CUDA grouping.
# Usage: bash benchmarks/gpu_checks.sh [OUT_DIR]   (logs go to OUT_DIR, default ./gpu-logs)
set -u
out=${1:-${OUT:-gpu-logs}}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python3}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
$py -c "import torch, cv2, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'opencv', cv2.__version__, 'numpy', numpy.__version__)" 2>&1 | tee -a "$out/gpu.txt"
# the console script for the subprocess tests (offline: no dependencies, no build isolation)
$py -m pip install -q --no-deps --no-build-isolation -e . >"$out/install.txt" 2>&1 || echo "editable install failed (see install.txt)"

echo "== CUDA tests"
timeout 300 $py -m pytest -q -m cuda -p no:cacheprovider 2>&1 | tee "$out/tests-cuda.txt" | tail -5
echo "== whole suite (device auto = CUDA here)"
timeout 400 $py -m pytest -q -x -p no:cacheprovider 2>&1 | tee "$out/tests-all.txt" | tail -5
echo "== bench_cuda"
timeout 240 $py benchmarks/bench_cuda.py 2>&1 | tee "$out/bench-cuda.txt"
echo "== batch throughput with CUDA grouping"
timeout 240 $py benchmarks/batch_bench.py --count 96 --jobs 8 --repeat 1 --only floor poolcli poolcli-cuda poolcli-cuda-b1 2>&1 | tee "$out/batch-bench.txt"

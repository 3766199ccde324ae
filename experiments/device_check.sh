#!/usr/bin/env bash
# The GPU checks of issue 13, in one short run, tables printed (and written under $OUT):
#   1. attention: softmax through cuDNN's flash attention (bfloat16) vs EALA,
#      L = 1k ... 64k, forward and forward+backward;
#   2. ELinFormer's whole training step (forward, backward, Adam) at 170, 2,000
#      and 8,600 nodes, EALA vs softmax (the largest batch of 16..1 that fits).
# Nothing else needs a GPU: building and the tests run on CPUs.
#
#   experiments/device_check.sh            # on a machine with an NVIDIA GPU (minutes)
#   experiments/device_check.sh --dry-run  # the same commands, tiny, on any machine (seconds)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT=${OUT:-results/device_check}

if [ "${1:-}" = "--dry-run" ]; then
  # Float32 through XLA's softmax (cuDNN needs a GPU), short lengths, the 64-node model.
  ATTENTION=(--lengths 256 1024 --dtype float32 --softmax-implementation xla --budget-s 0.2)
  STEP=(--nodes 64 --batches 2 --budget-s 1)
else
  if ! "$PY" -c 'import jax, sys; sys.exit(jax.default_backend() != "gpu")'; then
    echo "device_check: no GPU visible to JAX (backend: $("$PY" -c 'import jax; print(jax.default_backend())'));" \
         "use --dry-run to try the commands on this machine." >&2
    exit 2
  fi
  "$PY" -c 'import jax; print("devices:", jax.devices())'
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv
  ATTENTION=(--lengths 1024 4096 16384 65536 --dtype bfloat16 --softmax-implementation cudnn)
  GIB=$("$PY" -c 'import jax; print(int(jax.devices()[0].memory_stats()["bytes_limit"] / 2**30))')
  STEP=(--nodes 170 2000 8600 --batches 16 8 4 2 1 --budget-s 20 --fit-gib "$GIB" --run-gib "$GIB")
fi

echo "## 1. attention (softmax vs EALA)"
"$PY" experiments/bench_attention.py --kinds softmax eala --no-causal --no-decode \
  "${ATTENTION[@]}" --out "$OUT/attention"
echo
echo "## 2. ELinFormer training step"
# --quick: no step breakdown (the node counts and batches are given explicitly).
"$PY" experiments/bench_elinformer.py --quick "${STEP[@]}" --out "$OUT/elinformer"

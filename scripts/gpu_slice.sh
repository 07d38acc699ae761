#!/bin/bash
# The prepared session for a lent GPU (issue 21): bench LeNet and Conv-2/4/6 on it, then train the
# next unfinished levels of Fig. 5's GPU campaign until 9 minutes are spent, and copy the bench
# JSON and the results' committed files to $OUT. Run on the device machine from the repository
# root, MNIST and CIFAR-10 carried under data/ (git-ignored):
#   run(command="bash scripts/gpu_slice.sh", carry=["data"], timeout_s=600)
# Back here: cp -r <files_at>/results/* results/ && cp <files_at>/benchmarks/results/* benchmarks/results/
# then commit like any other slice. Extra arguments go to `slice` (e.g. --budget 300 --device cuda:0).
set -euo pipefail
export LTHREPRO_DATA="${LTHREPRO_DATA:-$PWD/data}"
OUT="${OUT:?set OUT to the folder whose files come back}"
python -m lthrepro slice --device cuda --budget 540 --out "$OUT" "$@"

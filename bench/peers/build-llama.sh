#!/usr/bin/env bash
# Builds native llama.cpp (llama-bench and friends) for bench/peers from the
# source node-llama-cpp ships as a git bundle (commit 80fb11a), into a folder
# outside this repository: bench/peers/build-llama.sh [DIR]   (default ../llama.cpp
# beside the repo root). Then: export LLAMA_CPP_BIN=DIR/build/bin
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dest="${1:-$root/../llama.cpp}"
bundle="$root/bench/node_modules/node-llama-cpp/llama/gitRelease.bundle"

[ -f "$bundle" ] || { echo "missing $bundle: run npm install in bench/ first" >&2; exit 1; }
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
case "$dest/" in "$root/"*) echo "refusing to build inside the repository: $dest" >&2; exit 1 ;; esac

if [ ! -d "$dest/.git" ]; then
  git clone "$bundle" "$dest"
fi
git -C "$dest" log -1 --format='llama.cpp %h %s'
# -march=native turns on AMX where /proc/cpuinfo lists it, but some VMs list AMX and trap on its
# instructions (llama-bench dies with SIGILL in libggml-cpu): AMX off, every other native feature
# (AVX-512, VNNI) kept. Measured 2026-12-03 on a 2-core Xeon VM: Qwen2.5-0.5B-shape Q4_0 tg32 16.9 t/s.
amx_off="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
cmake -S "$dest" -B "$dest/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DCMAKE_C_FLAGS="$amx_off" -DCMAKE_CXX_FLAGS="$amx_off"
cmake --build "$dest/build" --config Release -j "$(nproc)" \
  --target llama-bench llama-cli llama-simple llama-quantize llama-perplexity
echo "export LLAMA_CPP_BIN=$dest/build/bin"

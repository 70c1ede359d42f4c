#!/bin/sh
# Regenerates the expected cache blocks: ggml's CPU from_float (what llama.cpp's set_rows writes a
# KV cache of each type with) on input.f32, 64 rows of 64. Built against llama.cpp commit
# 80fb11ac73e66d89eae2c6a91d8a77428fa733ed (x86-64 with AVX2/AVX-512), built beside the repository
# by bench/peers/build-llama.sh (LLAMA_CPP_DIR overrides where).
#   sh test/golden/kv/blocks/make-expected.sh
set -e
cd "$(dirname "$0")"
LLAMA=$(cd "${LLAMA_CPP_DIR:-../../../../../llama.cpp}" && pwd)
TMP=$(mktemp -d)
gcc -O2 -I"$LLAMA/ggml/include" write-blocks.c -L"$LLAMA/build/bin" -lggml-cpu -lggml-base -lggml -lm -Wl,-rpath,"$LLAMA/build/bin" -o "$TMP/write-blocks"
"$TMP/write-blocks"
rm -rf "$TMP"

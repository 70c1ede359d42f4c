#!/bin/sh
# Regenerates the expected cache blocks: ggml's CPU from_float (what llama.cpp's set_rows writes a
# KV cache of each type with) on input.f32, 64 rows of 64. Built against /work/llama.cpp (commit
# 80fb11ac73e66d89eae2c6a91d8a77428fa733ed, x86-64 with AVX2/AVX-512) with:
#   gcc -O2 -I/work/llama.cpp/ggml/include write-blocks.c -L/work/llama.cpp/build/bin \
#       -lggml-cpu -lggml-base -lggml -lm -Wl,-rpath,/work/llama.cpp/build/bin -o /tmp/write-blocks
#   cd test/golden/kv/blocks && /tmp/write-blocks
set -e
cd "$(dirname "$0")"
gcc -O2 -I/work/llama.cpp/ggml/include write-blocks.c -L/work/llama.cpp/build/bin -lggml-cpu -lggml-base -lggml -lm -Wl,-rpath,/work/llama.cpp/build/bin -o /tmp/write-blocks
/tmp/write-blocks

#!/bin/sh
# llama.cpp's outputs for lutra's tiny random models with RoPE scaling in their metadata
# (test/rope-models.ts: linear, YaRN on llama and qwen2, LongRoPE on phi3 with long and short factors):
# test/golden/arch/make-golden.sh run on them, 8 perplexity windows of 128.
# Run from the repository root after `npx tsc -p .`:  sh test/golden/rope/make-golden.sh
MODELS=test/rope-models.ts OUT=test/golden/rope CHUNKS=8 exec sh test/golden/arch/make-golden.sh "$@"

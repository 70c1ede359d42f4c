#!/bin/sh
# llama.cpp's outputs for lutra's tiny random models with RoPE scaling in their metadata
# (test/rope-models.ts: linear, YaRN on llama and qwen2, LongRoPE on phi3 with long and short factors).
# Run from the repository root after `npx tsc -p .`:  sh test/golden/rope/make-golden.sh
# Writes test/golden/rope/<model>/greedy-n32.txt (llama-simple's raw stdout bytes) and
# ppl-c128.txt (llama-perplexity's per-chunk cumulative PPL), each headed by its command.
set -e
BIN=${LLAMA_BIN:-../llama.cpp/build/bin}  # bench/peers/build-llama.sh builds it there
CORPUS=../shared/data/text/tinystories/tinystories_val.txt
TMP=$(mktemp -d)
node dist/test/rope-models.js "$TMP"
LLAMA_COMMIT=$(git -C "$BIN/../.." rev-parse HEAD 2>/dev/null || echo unknown)
for m in "$TMP"/*.gguf; do
  name=$(basename "$m" .gguf)
  out=test/golden/rope/$name
  mkdir -p "$out"
  "$BIN/llama-simple" -m "$m" -n 32 "Once upon a time" 2>/dev/null > "$out/greedy-n32.txt"
  {
    echo "# llama.cpp $LLAMA_COMMIT, CPU; model: node dist/test/rope-models.js DIR -> DIR/$name.gguf (sha256 $(sha256sum "$m" | cut -c1-64))"
    echo "# command: llama-perplexity -m MODEL -f $CORPUS -c 128 -b 128 --chunks 8 -t 2"
    echo "# greedy-n32.txt: llama-simple -m MODEL -n 32 \"Once upon a time\" (stdout bytes)"
    for try in 1 2 3 4 5 6; do
      vals=$("$BIN/llama-perplexity" -m "$m" -f "$CORPUS" -c 128 -b 128 --chunks 8 -t 2 2>/dev/null | tr -d '\r' | grep -o '\[[0-9]*\][0-9.]*' | tr -d '[' | tr ']' ' ')
      [ "$(echo "$vals" | wc -l)" -ge 8 ] && break
    done
    echo "$vals"
  } > "$out/ppl-c128.txt"
done
rm -rf "$TMP"

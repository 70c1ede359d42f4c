#!/bin/sh
# llama.cpp's outputs for lutra's tiny random models of each family (test/arch-models.ts).
# Run from the repository root after `npx tsc -p .`:  sh test/golden/arch/make-golden.sh [FAMILY...]
# (no FAMILY: every family).
# Writes test/golden/arch/<family>/greedy-n32.txt (llama-simple's raw stdout bytes) and
# ppl-c128.txt (llama-perplexity's per-chunk cumulative PPL), each headed by its command.
# MODELS (the script that writes the models), OUT (the golden folder) and CHUNKS (perplexity windows)
# let another set of models use it (test/golden/rope/make-golden.sh).
set -e
MODELS=${MODELS:-test/arch-models.ts}
OUT=${OUT:-test/golden/arch}
CHUNKS=${CHUNKS:-16}
JS=dist/$(echo "$MODELS" | sed 's/\.ts$/.js/')
BIN=${LLAMA_BIN:-../llama.cpp/build/bin}  # bench/peers/build-llama.sh builds it there
CORPUS=../shared/data/text/tinystories/tinystories_val.txt
TMP=$(mktemp -d)
node "$JS" "$TMP"
LLAMA_COMMIT=$(git -C "$BIN/../.." rev-parse HEAD 2>/dev/null || echo unknown)
for m in "$TMP"/*.gguf; do
  fam=$(basename "$m" .gguf)
  if [ $# -gt 0 ] && ! echo " $* " | grep -q " $fam "; then continue; fi
  out=$OUT/$fam
  mkdir -p "$out"
  "$BIN/llama-simple" -m "$m" -n 32 "Once upon a time" 2>/dev/null > "$out/greedy-n32.txt"
  {
    echo "# llama.cpp $LLAMA_COMMIT, CPU; model: node $JS DIR -> DIR/$fam.gguf (sha256 $(sha256sum "$m" | cut -c1-64))"
    echo "# command: llama-perplexity -m MODEL -f $CORPUS -c 128 -b 128 --chunks $CHUNKS -t 2"
    echo "# greedy-n32.txt: llama-simple -m MODEL -n 32 \"Once upon a time\" (stdout bytes)"
    # llama-perplexity's last "[$CHUNKS]..." sometimes does not reach the pipe: run it until all do.
    for try in 1 2 3 4 5 6; do
      vals=$("$BIN/llama-perplexity" -m "$m" -f "$CORPUS" -c 128 -b 128 --chunks "$CHUNKS" -t 2 2>/dev/null | tr -d '\r' | grep -o '\[[0-9]*\][0-9.]*' | tr -d '[' | tr ']' ' ')
      [ "$(echo "$vals" | wc -l)" -ge "$CHUNKS" ] && break
    done
    echo "$vals"
  } > "$out/ppl-c128.txt"
done
rm -rf "$TMP"

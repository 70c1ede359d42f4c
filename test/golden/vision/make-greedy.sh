#!/bin/sh
# llama-mtmd-cli's greedy text on lutra's tiny vision pairs, for test/vision-greedy.test.ts.
# Run from the repository root after `npm run build`, with llama.cpp built beside the repository
# (cmake --build ../llama.cpp/build --target llama-mtmd-cli; LLAMA=../llama.cpp by default):
#   sh test/golden/vision/make-greedy.sh
# Writes test/golden/vision/greedy/<preset>-<image>.txt: llama-mtmd-cli's stdout, byte for byte
# (a newline after the prompt is decoded, then the pieces, then newlines at the end; the longest of
# five runs, as its log thread can drop the tail at exit), and README.txt with the commands. `--top-k 1` makes the sampler chain greedy: with only `--temp 0` this build's
# default chain (top-k 40, top-p 0.95, min-p 0.05, temperature) did not pick the argmax on these
# near-flat random logits (it printed "Jeee..." where the argmax is "\n" every step).
set -e
LLAMA=${LLAMA:-../llama.cpp}
CLI=$LLAMA/build/bin/llama-mtmd-cli
OUT=test/golden/vision/greedy
TMP=$(mktemp -d)
PROMPT="Describe the picture."
node dist/test/vision-greedy-cases.js "$TMP"
mkdir -p "$OUT"
LLAMA_COMMIT=$(git -C "$LLAMA" rev-parse HEAD 2>/dev/null || echo unknown)
{
  echo "llama.cpp $LLAMA_COMMIT (llama-mtmd-cli), CPU; models and pattern: node dist/test/vision-greedy-cases.js DIR (F16, as lutra synth --preset P --type f16 -o P.gguf --mmproj P.mmproj.gguf)"
  (cd "$TMP" && sha256sum tiny-*.gguf | awk '{ print $2 " sha256 " $1 }')
  echo "pattern-320x200.png: test/vision-cases.ts patternImage(320, 200); chelsea = ../shared/data/images/chelsea.png, rocket = ../shared/data/images/rocket.jpg"
  echo "P-IMAGE.txt: llama-mtmd-cli -m P.gguf --mmproj P.mmproj.gguf --image IMAGE -p \"$PROMPT\" -n 32 --temp 0 --top-k 1 -fa off -t 1 --seed 1 (stdout)"
} > "$OUT/README.txt"
for p in tiny-minicpmv tiny-llava tiny-smolvlm; do
  for img in chelsea:../shared/data/images/chelsea.png rocket:../shared/data/images/rocket.jpg pattern:"$TMP/pattern-320x200.png"; do
    name=${img%%:*}; file=${img#*:}
    # Its log thread may not print the last pieces before the process exits: the longest of 5 runs.
    : > "$OUT/$p-$name.txt"
    for run in 1 2 3 4 5; do
      "$CLI" -m "$TMP/$p.gguf" --mmproj "$TMP/$p.mmproj.gguf" --image "$file" -p "$PROMPT" -n 32 --temp 0 --top-k 1 -fa off -t 1 --seed 1 2>/dev/null > "$TMP/out.txt"
      [ "$(wc -c < "$TMP/out.txt")" -gt "$(wc -c < "$OUT/$p-$name.txt")" ] && cp "$TMP/out.txt" "$OUT/$p-$name.txt"
    done
  done
done
rm -rf "$TMP"

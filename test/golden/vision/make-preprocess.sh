#!/bin/sh
# llama.cpp's image preprocessing for the cases in test/vision-cases.ts, and stb_image's decoding of
# the shared images. Run from the repository root after `npx tsc -p .`:
#   sh test/golden/vision/make-preprocess.sh
# Compiles preproc-harness.cpp against a llama.cpp checkout (LLAMA, default ../llama.cpp, built so
# that build/bin/libggml-base.so exists) into a temporary folder and writes
# test/golden/vision/preprocess.jsonl (one line per case: its name, then the harness's JSON) and
# decode.jsonl (stb_image on each file of ../shared/data/images).
set -e
LLAMA=${LLAMA:-../llama.cpp}
OUT=test/golden/vision
TMP=$(mktemp -d)
node dist/test/vision-cases.js "$TMP"
g++ -std=c++17 -O1 -I"$LLAMA/tools/mtmd" -I"$LLAMA/ggml/include" -I"$LLAMA/include" -I"$LLAMA/vendor" \
  -o "$TMP/harness" "$OUT/preproc-harness.cpp" -L"$LLAMA/build/bin" -lggml-base -Wl,-rpath,"$(cd "$LLAMA/build/bin" && pwd)"
COMMIT=$(git -C "$LLAMA" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "{\"llama.cpp\":\"$COMMIT\",\"command\":\"sh test/golden/vision/make-preprocess.sh\"}"
  while IFS="$(printf '\t')" read -r name proj ver size patch pre merge file w h; do
    printf '{"case":"%s","ref":%s}\n' "$name" "$("$TMP/harness" "$proj" "$ver" "$size" "$patch" "$pre" "$merge" "$TMP/$file" "$w" "$h")"
  done < "$TMP/cases.tsv"
} > "$OUT/preprocess.jsonl"
{
  for f in ../shared/data/images/*; do
    printf '{"file":"images/%s","ref":%s}\n' "$(basename "$f")" "$("$TMP/harness" decode "$f" "$TMP/$(basename "$f").stb.rgb")"
  done
} > "$OUT/decode.jsonl"
rm -rf "$TMP"

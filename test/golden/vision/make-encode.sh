#!/bin/sh
# llama.cpp's (libmtmd's) image embeddings and greedy text for lutra's tiny vision pairs.
# Run from the repository root after `npx tsc -p .` with llama.cpp built beside the repository
# (cmake --build ../llama.cpp/build --target llama-mtmd-cli; LLAMA=../llama.cpp by default):
#   sh test/golden/vision/make-encode.sh
# Writes test/golden/vision/encode/<preset>-<W>x<H>.f32 (int32 nTokens, int32 nEmbd, f32 rows:
# mtmd-dump.cpp's encode of test/vision-models.ts's slicePattern), mtmd/<preset>-chelsea.txt (mtmd's
# chunks for the photo, then its 16 greedy token ids) with mtmd/<preset>-chelsea.N.f32 (each image
# chunk's embeddings); each command in README.txt beside them. llama-mtmd-cli's greedy text is
# make-greedy.sh's (greedy/).
set -e
LLAMA=${LLAMA:-../llama.cpp}
BIN=$LLAMA/build/bin
OUT=test/golden/vision
TMP=$(mktemp -d)
IMG=../shared/data/images/chelsea.png
PROMPT="Describe the picture."
DUMP=${MTMD_DUMP:-$TMP/mtmd-dump}   # MTMD_DUMP: an mtmd-dump already built from mtmd-dump.cpp
[ -n "$MTMD_DUMP" ] || g++ -O2 -std=c++17 -o "$DUMP" "$OUT/mtmd-dump.cpp" \
  -I"$LLAMA/tools/mtmd" -I"$LLAMA/include" -I"$LLAMA/ggml/include" \
  -L"$BIN" -lmtmd -lllama -lggml -lggml-base -Wl,-rpath,"$(cd "$BIN" && pwd)"
node dist/test/vision-models.js "$TMP"
mkdir -p "$OUT/encode" "$OUT/mtmd"
LLAMA_COMMIT=$(git -C "$LLAMA" rev-parse HEAD 2>/dev/null || echo unknown)
{
  echo "llama.cpp $LLAMA_COMMIT, CPU, flash attention off; models: node dist/test/vision-models.js DIR (F16)"
  for p in tiny-minicpmv tiny-llava tiny-smolvlm; do
    echo "$p.mmproj.gguf sha256 $(sha256sum "$TMP/$p.mmproj.gguf" | cut -c1-64); $p.gguf sha256 $(sha256sum "$TMP/$p.gguf" | cut -c1-64)"
  done
  echo "encode/P-WxH.f32: mtmd-dump encode P.mmproj.gguf slice-WxH.f32 W H OUT 1"
  echo "mtmd/P-chelsea.*: mtmd-dump mtmd P.gguf P.mmproj.gguf $IMG \"$PROMPT\" OUT 1"
} > "$OUT/README.txt"
for p in tiny-minicpmv tiny-llava tiny-smolvlm; do
  for s in "$TMP"/slice-*.f32; do
    wh=$(basename "$s" .f32 | sed 's/slice-//'); w=${wh%x*}; h=${wh#*x}
    case "$p:$wh" in tiny-minicpmv:56x56|tiny-minicpmv:84x42|tiny-minicpmv:28x70|tiny-llava:56x56|tiny-smolvlm:64x64) ;; *) continue ;; esac
    "$DUMP" encode "$TMP/$p.mmproj.gguf" "$s" "$w" "$h" "$OUT/encode/$p-$wh.f32" 1 2>/dev/null >/dev/null
  done
  "$DUMP" mtmd "$TMP/$p.gguf" "$TMP/$p.mmproj.gguf" "$IMG" "$PROMPT" "$OUT/mtmd/$p-chelsea" 1 2>/dev/null > "$OUT/mtmd/$p-chelsea.txt"
done
rm -rf "$TMP"

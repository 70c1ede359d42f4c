// FR-Spec (Zhao et al. 2025, arXiv 2502.14856): the draft's LM head restricted to the K most
// frequent tokens of a corpus, since on small models with large vocabularies that projection is a
// large share of each draft step. The ranking is counted once with the model's tokenizer and kept
// as a small text file; verification always runs the target's full head, so what is generated is
// unchanged: only which tokens the draft can propose.

import { ArgumentError, FormatError } from '../../core/errors.js';
import type { Kernels, WeightMatrix } from '../../kernels/types.js';
import { quantFormat } from '../../quant/table.js';
import { weightBytes } from '../../quant/types.js';
import type { Tokenizer } from '../../tokenizer/index.js';

const MAGIC = '# lutra fr-spec token ranking v1';
/** ggml's type id of F32 (stable on disk). */
const GGML_F32 = 0;

/** Token ids by descending count in `texts` (ties: lower id first), tokenized without special tokens. */
export function rankTokens(tok: Tokenizer, texts: Iterable<string>): { ids: Int32Array; counts: Float64Array } {
  const counts = new Float64Array(tok.vocabSize);
  for (const t of texts) for (const id of tok.encode(t, { addSpecial: false, parseSpecial: false })) counts[id]!++;
  const ids = Int32Array.from({ length: tok.vocabSize }, (_, i) => i).filter((i) => counts[i]! > 0);
  ids.sort((a, b) => counts[b]! - counts[a]! || a - b);
  return { ids, counts: Float64Array.from(ids, (i) => counts[i]!) };
}

/** The ranking file: a header line, a line of key=value facts, then one token id and its count per line. */
export function formatRanking(ids: ArrayLike<number>, counts: ArrayLike<number>, facts: Record<string, string | number>): string {
  const lines = [MAGIC, `# ${Object.entries(facts).map(([k, v]) => `${k}=${String(v).replace(/\s+/g, '_')}`).join(' ')}`];
  for (let i = 0; i < ids.length; i++) lines.push(`${ids[i]} ${counts[i]}`);
  return lines.join('\n') + '\n';
}

/** Token ids, most frequent first, from a ranking file's text; each must be below nVocab. */
export function parseRanking(text: string, nVocab: number, file = '<ranking>'): Int32Array {
  const lines = text.split('\n');
  if (lines[0] !== MAGIC) throw new FormatError(file, `not an FR-Spec token ranking: the first line should be "${MAGIC}"`);
  const ids: number[] = [];
  const seen = new Set<number>();
  lines.forEach((line, i) => {
    if (line === '' || line.startsWith('#')) return;
    const id = Number(line.split(' ')[0]);
    if (!Number.isInteger(id) || id < 0 || id >= nVocab) throw new FormatError(file, `line ${i + 1}: token id ${JSON.stringify(line.split(' ')[0])} is not in the vocabulary (0..${nVocab - 1})`);
    if (seen.has(id)) throw new FormatError(file, `line ${i + 1}: token id ${id} is ranked twice`);
    seen.add(id);
    ids.push(id);
  });
  return Int32Array.from(ids);
}

/**
 * The draft's vocabulary: the first k ranked ids plus every end-of-generation token (a draft that
 * cannot propose the end cannot have it accepted), sorted by id.
 */
export function frSpecSubset(ranking: ArrayLike<number>, k: number, tok: Tokenizer, nVocab: number): Int32Array {
  if (!Number.isInteger(k) || k < 1) throw new ArgumentError(`frSpecTokens must be a positive integer, got ${k}`);
  const keep = new Set<number>();
  for (let i = 0; i < Math.min(k, ranking.length); i++) keep.add(ranking[i]!);
  for (let id = 0; id < nVocab; id++) if (tok.isEog(id)) keep.add(id);
  return Int32Array.from([...keep].sort((a, b) => a - b));
}

/**
 * An output matrix of the given rows of `output`, laid out for the kernels. Rows are copied as the
 * file holds them when the matrix is still in that layout (checked against the kernels' own row
 * read-back on a few rows); otherwise (a matrix the kernels re-laid) they are read back and
 * quantized again in the same format, or kept as f32 for a format without a quantizer.
 */
export function restrictedHead(kernels: Kernels, output: WeightMatrix, rows: Int32Array): WeightMatrix {
  const n = rows.length, cols = output.cols;
  const alloc = (bytes: number) => kernels.allocBytes?.(bytes) ?? new Uint8Array(bytes);
  const probe = new Float32Array(cols), fromBytes = new Float32Array(cols);
  let rowMajor = output.data.byteLength >= output.rows * output.rowBytes;
  for (const r of [rows[0]!, rows[n >> 1]!, rows[n - 1]!]) {
    if (!rowMajor) break;
    kernels.embed(output, [r], 1, probe);
    output.format.dequantize(output.data, r * output.rowBytes, fromBytes, 0, cols);
    for (let i = 0; i < cols && rowMajor; i++) if (!Object.is(probe[i], fromBytes[i])) rowMajor = false;
  }
  let head: WeightMatrix;
  if (rowMajor) {
    const data = alloc(n * output.rowBytes);
    for (let i = 0; i < n; i++) data.set(output.data.subarray(rows[i]! * output.rowBytes, (rows[i]! + 1) * output.rowBytes), i * output.rowBytes);
    head = { ...weightBytes(data), name: `${output.name}[fr-spec ${n}]`, format: output.format, rows: n, cols, rowBytes: output.rowBytes };
  } else if (output.format.quantize && cols % output.format.blockSize === 0) {
    // Read back as f32 and quantized again in the same format (Q8_0 round-trips exactly).
    const data = alloc(n * output.rowBytes);
    for (let i = 0; i < n; i++) {
      kernels.embed(output, [rows[i]!], 1, probe);
      output.format.quantize(probe, 0, data, i * output.rowBytes, cols);
    }
    head = { ...weightBytes(data), name: `${output.name}[fr-spec ${n}]`, format: output.format, rows: n, cols, rowBytes: output.rowBytes };
  } else {
    const data = alloc(n * cols * 4);
    const f = new Float32Array(data.buffer, data.byteOffset, n * cols);
    for (let i = 0; i < n; i++) kernels.embed(output, [rows[i]!], 1, f.subarray(i * cols, (i + 1) * cols));
    head = { ...weightBytes(data), name: `${output.name}[fr-spec ${n}, f32]`, format: quantFormat(GGML_F32), rows: n, cols, rowBytes: cols * 4 };
  }
  kernels.prepareWeights?.([head]);
  return head;
}

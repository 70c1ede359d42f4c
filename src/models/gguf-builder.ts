// The one writer of whole-model GGUFs that lutra makes itself: random models for tests and
// benchmarks (test/synth.ts, tools/synth.ts, eval/outlier-model.ts) and the trainer's export. The
// metadata head and every tensor name come from formats/gguf-names.ts; values come from the caller.
// Not a converter: Hugging Face folders are read by formats/hf-folder.ts.

import { writeGGUF, type GGUFTensorToWrite, type GGUFValue } from '../formats/gguf.js';
import { ARCH_TENSORS, TENSOR, blk, modelMetadata, type GGUFHParams } from '../formats/gguf-names.js';

/** What the hyper-parameters do not say about a decoder's tensors. */
export interface DecoderLayout {
  nVocab: number;
  /** No output.weight: the token embedding doubles as the output projection. */
  tied?: boolean;
  /** q/k/v biases (default: when the architecture has them). */
  qkvBias?: boolean;
  /** Per-head q/k RMSNorm weights (default: when the architecture has them). */
  qkNorm?: boolean;
}

export interface TensorShape {
  name: string;
  /** ggml order: shape[0] is the row length. */
  shape: number[];
  kind: 'embedding' | 'norm' | 'matrix' | 'bias';
}

/**
 * Every tensor of a llama-family decoder in llama.cpp's order: token_embd, output_norm, output,
 * then per block attn_norm, q, k, v, their biases, the q/k norms, attn_output and the FFN.
 */
export function decoderTensors(s: GGUFHParams, layout: DecoderLayout): TensorShape[] {
  const arch = ARCH_TENSORS[s.arch as keyof typeof ARCH_TENSORS];
  const qkvBias = layout.qkvBias ?? arch?.qkvBias ?? false, qkNorm = layout.qkNorm ?? arch?.qkNorm ?? false;
  const nVocab = layout.nVocab;
  const hd = s.headDim ?? s.nEmbd / s.nHead, q = s.nHead * hd, kv = s.nHeadKv * hd;
  const out: TensorShape[] = [
    { name: TENSOR.tokenEmbd, shape: [s.nEmbd, nVocab], kind: 'embedding' },
    { name: TENSOR.outputNorm, shape: [s.nEmbd], kind: 'norm' },
  ];
  if (!layout.tied) out.push({ name: TENSOR.output, shape: [s.nEmbd, nVocab], kind: 'matrix' });
  for (let l = 0; l < s.nLayer; l++) {
    out.push(
      { name: blk(l, 'attnNorm'), shape: [s.nEmbd], kind: 'norm' },
      { name: blk(l, 'attnQ'), shape: [s.nEmbd, q], kind: 'matrix' },
      { name: blk(l, 'attnK'), shape: [s.nEmbd, kv], kind: 'matrix' },
      { name: blk(l, 'attnV'), shape: [s.nEmbd, kv], kind: 'matrix' },
    );
    if (qkvBias) {
      out.push(
        { name: blk(l, 'attnQ', 'bias'), shape: [q], kind: 'bias' },
        { name: blk(l, 'attnK', 'bias'), shape: [kv], kind: 'bias' },
        { name: blk(l, 'attnV', 'bias'), shape: [kv], kind: 'bias' },
      );
    }
    if (qkNorm) out.push({ name: blk(l, 'attnQNorm'), shape: [hd], kind: 'norm' }, { name: blk(l, 'attnKNorm'), shape: [hd], kind: 'norm' });
    out.push(
      { name: blk(l, 'attnOutput'), shape: [q, s.nEmbd], kind: 'matrix' },
      { name: blk(l, 'ffnNorm'), shape: [s.nEmbd], kind: 'norm' },
      { name: blk(l, 'ffnGate'), shape: [s.nEmbd, s.nFF], kind: 'matrix' },
      { name: blk(l, 'ffnUp'), shape: [s.nEmbd, s.nFF], kind: 'matrix' },
      { name: blk(l, 'ffnDown'), shape: [s.nFF, s.nEmbd], kind: 'matrix' },
    );
  }
  return out;
}

export function f32Tensor(name: string, shape: number[], values: Float32Array): GGUFTensorToWrite {
  return { name, shape, type: 0, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

export interface ModelGGUF {
  hp: GGUFHParams;
  name?: string;
  fileType?: number;
  quantizationVersion?: number;
  /** Written after the hyper-parameters, before `tokenizer`. */
  extraMeta?: Iterable<[string, GGUFValue]>;
  /** tokenizer.* entries, last. */
  tokenizer?: Iterable<[string, GGUFValue]>;
  tensors: GGUFTensorToWrite[];
}

/** The model as GGUF chunks: general keys, hyper-parameters, extra keys, tokenizer, tensors. */
export function buildModelGGUF(m: ModelGGUF): Uint8Array[] {
  const md = new Map<string, GGUFValue>([
    ...modelMetadata(m.hp, { name: m.name, fileType: m.fileType, quantizationVersion: m.quantizationVersion }),
    ...(m.extraMeta ?? []),
    ...(m.tokenizer ?? []),
  ]);
  return writeGGUF(md, m.tensors);
}

/** A decoder with F32 weights from `fill` (called once per tensor, in `decoderTensors` order). */
export function buildDecoderGGUF(hp: GGUFHParams, layout: DecoderLayout, fill: (t: TensorShape) => Float32Array, o: Omit<ModelGGUF, 'hp' | 'tensors'> = {}): Uint8Array[] {
  const tensors = decoderTensors(hp, layout).map((t) => f32Tensor(t.name, t.shape, fill(t)));
  return buildModelGGUF({ ...o, hp, tensors });
}

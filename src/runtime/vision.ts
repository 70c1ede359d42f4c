// Images into a model's prompt, as llama.cpp's mtmd puts them: a projector file loaded onto the
// model's kernels (its width checked against the LLM's), each image's slices encoded, and a prompt
// of text and images turned into token ids with the slices' embeddings in place of placeholder
// rows at their positions (the InputEmbeddings seam of Context.decode). Generation then continues
// from that prefilled context. Not here: decoding and slicing pictures (vision/image.ts,
// vision/slicing.ts), the CLI and server surfaces.

import { ArgumentError, ModelError } from '../core/errors.js';
import { parseGGUF } from '../formats/gguf.js';
import type { Kernels } from '../kernels/types.js';
import type { InputEmbeddings } from '../models/index.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { checkProjectorFits, Projector } from '../vision/projector.js';
import type { PreparedImage } from '../vision/types.js';
import type { Context } from './context.js';
import type { GenerateChunk, GenerateOptions } from './generate.js';
import type { Model } from './model.js';

export { Projector } from '../vision/projector.js';

/**
 * A projector (mmproj) GGUF from a path (Node.js) or its bytes, computing on `kernels` (pass the
 * LLM's: the same WebAssembly memory and threads). With `model`, its output width must be the model's.
 */
export async function loadProjector(input: string | Uint8Array, opts: { kernels: Kernels; model?: Model }): Promise<Projector> {
  const k = opts.kernels;
  let bytes: Uint8Array, name: string;
  if (typeof input === 'string') {
    const io = await import('./node-io.js');
    name = input;
    bytes = await io.readFileWithProgress(input, { alloc: k.allocBytes ? (n) => k.allocBytes!(n) : undefined });
  } else {
    name = '<bytes>';
    bytes = k.allocBytes ? k.allocBytes(input.byteLength) : input.slice();
    if (k.allocBytes) bytes.set(input);
  }
  const g = parseGGUF(bytes, name);
  const proj = Projector.fromSource({ file: name, metadata: g.metadata, tensors: g.tensors }, k);
  if (opts.model) checkProjectorFits(proj, opts.model.file, opts.model.hparams.nEmbd);
  return proj;
}

/** A prompt of text and images, in order. */
export type PromptPart = string | { image: PreparedImage };

/** Where an image goes in a prompt's text: llama.cpp's mtmd default media marker. */
export const MEDIA_MARKER = '<__media__>';

/**
 * The rendered prompt `text`, one MEDIA_MARKER per image, with images[i] after the i-th piece and
 * encoded (encodePrompt); BOS in front unless the rendered text already starts with it. A count that
 * does not match is the caller's error: mismatch(markers found).
 */
export function encodeMarkedPrompt(model: Model, projector: Projector, text: string, images: PreparedImage[], mismatch: (found: number) => Error): EncodedPrompt {
  const pieces = text.split(MEDIA_MARKER);
  if (pieces.length - 1 !== images.length) throw mismatch(pieces.length - 1);
  const parts: PromptPart[] = [];
  pieces.forEach((piece, i) => { parts.push(piece); if (i < images.length) parts.push({ image: images[i]! }); });
  const bos = model.tokenizer.bosText;
  return encodePrompt(model, projector, parts, { addSpecial: !(bos && text.startsWith(bos)) });
}

export interface EncodedPrompt {
  ids: number[];
  embeddings: InputEmbeddings[];
  /** Per image: slices encoded and the milliseconds it took. */
  images: { slices: number; tokens: number; ms: number }[];
}

const pieceIds = new WeakMap<Tokenizer, Map<string, number>>();

/** The id whose piece (special tokens included) is exactly `text`, as mtmd's lookup_token finds it. */
export function lookupToken(tok: Tokenizer, text: string): number {
  let m = pieceIds.get(tok);
  if (!m) {
    m = new Map();
    const dec = new TextDecoder();
    for (let id = 0; id < tok.vocabSize; id++) {
      const piece = dec.decode(tok.tokenBytes(id, true));
      if (!m.has(piece)) m.set(piece, id);
    }
    pieceIds.set(tok, m);
  }
  const id = m.get(text);
  if (id === undefined) throw new ModelError(`the model's vocabulary has no token ${JSON.stringify(text)}, which this projector's image layout needs`);
  return id;
}

/**
 * Token ids for the parts with each image's layout tokens and placeholder rows, and the slices'
 * embeddings at those rows. As mtmd_tokenize: every text part tokenized with special tokens parsed
 * and without BOS/EOS, then BOS in front and EOS at the end where addSpecial and the vocabulary say so.
 */
export function encodePrompt(model: Model, projector: Projector, parts: PromptPart[], opts: { addSpecial?: boolean } = {}): EncodedPrompt {
  checkProjectorFits(projector, model.file, model.hparams.nEmbd);
  const tok = model.tokenizer, special = opts.addSpecial ?? true;
  const ids: number[] = special && tok.addBos && tok.bos !== undefined ? [tok.bos] : [];
  const embeddings: InputEmbeddings[] = [], images: EncodedPrompt['images'] = [];
  for (const part of parts) {
    if (typeof part === 'string') {
      if (part) ids.push(...tok.encode(part, { addSpecial: false, parseSpecial: true }));
      continue;
    }
    const { slices, layout } = part.image;
    const t0 = performance.now();
    let n = 0;
    for (const item of layout.items) {
      if (item.kind === 'token') ids.push(lookupToken(tok, item.text));
      else if (item.kind === 'text') ids.push(...tok.encode(item.text, { addSpecial: false, parseSpecial: true }));
      else {
        const slice = slices[item.index];
        if (!slice) throw new ArgumentError(`image layout names slice ${item.index} of ${slices.length}`);
        const data = projector.encode(slice);
        const rows = data.length / projector.hparams.nEmbdOut;
        embeddings.push({ start: ids.length, data });
        // Placeholder ids (any id will do: their rows are replaced before the first layer).
        for (let r = 0; r < rows; r++) ids.push(0);
        n += rows;
      }
    }
    images.push({ slices: slices.length, tokens: n, ms: performance.now() - t0 });
  }
  if (special && tok.addEos && tok.eos !== undefined) ids.push(tok.eos);
  return { ids, embeddings, images };
}

/**
 * Context positions that hold an image's rows: Context.tokens says IMAGE_ROW there between runs (no
 * token id equals it, so a text prompt's reused prefix ends before the first picture), and
 * `heldImages` keeps which rows they are, so an image prompt with the same pictures at the same
 * places reuses them.
 */
export const IMAGE_ROW = -1;
const heldImages = new WeakMap<Context, InputEmbeddings[]>();

/** Same rows: the same cached array (ImageCache hands back one per slice) or equal values. */
function sameRows(a: Float32Array, b: Float32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * How much of `prefix` (with `embeddings` at their starts) `ctx` already holds: equal text tokens,
 * and at each picture the same rows at the same place. Rows of a picture are never matched in part.
 */
function heldPrefix(ctx: Context, prefix: number[], embeddings: InputEmbeddings[], nEmbd: number): number {
  const held = heldImages.get(ctx) ?? [];
  const mine = new Map(embeddings.map((e) => [e.start, e]));
  const limit = Math.min(ctx.nPast, prefix.length);
  let n = 0;
  while (n < limit) {
    const want = mine.get(n);
    if (ctx.tokens[n] === IMAGE_ROW) {
      const had = held.find((h) => h.start === n);
      const rows = want ? want.data.length / nEmbd : 0;
      if (!want || !had || n + rows > limit || !sameRows(had.data, want.data)) break;
      n += rows;
      continue;
    }
    if (want || ctx.tokens[n] !== prefix[n]) break;
    n++;
  }
  return n;
}

/**
 * Decode an encoded prompt into `ctx` and stream the completion. The prefix is decoded here with
 * the image rows in place, from where the context stops holding the same text and pictures (a
 * follow-up question about a picture decodes only the new turn); generate() then finds all but the
 * last prompt token cached and goes on from there.
 */
export async function* generateWithImages(model: Model, ctx: Context, prompt: EncodedPrompt, opts: GenerateOptions = {}): AsyncGenerator<GenerateChunk> {
  const { ids, embeddings } = prompt;
  const nEmbd = model.hparams.nEmbd;
  if (ids.length < 2) throw new ArgumentError('an image prompt needs at least two tokens');
  if (ids.length > ctx.nCtx) throw new ArgumentError(`the prompt with its images is ${ids.length} tokens, more than the context size ${ctx.nCtx}`);
  const prefix = ids.slice(0, -1);
  const inPrefix = embeddings.filter((e) => e.start + e.data.length / nEmbd <= prefix.length);
  if (inPrefix.length !== embeddings.length) throw new ArgumentError('an image cannot end the prompt: add text after it');
  const common = heldPrefix(ctx, prefix, inPrefix, nEmbd);
  ctx.truncate(common);
  const kept = (heldImages.get(ctx) ?? []).filter((h) => h.start + h.data.length / nEmbd <= common);
  const fresh = inPrefix.filter((e) => e.start >= common);
  heldImages.set(ctx, [...kept, ...fresh]);
  const t0 = performance.now();
  if (common < prefix.length) ctx.decode(prefix.slice(common), { embeddings: fresh.map((e) => ({ start: e.start - common, data: e.data })), logits: 'none' });
  const prefillMs = performance.now() - t0;
  // generate() compares ids: the rows carry the prompt's placeholder ids while it runs, IMAGE_ROW after.
  const rows = inPrefix.flatMap((e) => Array.from({ length: e.data.length / nEmbd }, (_, r) => e.start + r));
  for (const r of rows) ctx.tokens[r] = ids[r]!;
  try {
    for await (const c of model.generate(ids, { ...opts, context: ctx })) {
      if (!c.done) { yield c; continue; }
      // generate() found the prefix decoded above in the cache: its timings count it as decoded here.
      const promptMs = c.timings.promptMs + prefillMs;
      yield { ...c, timings: { ...c.timings, cachedTokens: common, promptMs, promptTokensPerSecond: (ids.length - common) / Math.max(promptMs / 1000, 1e-9) } };
    }
  } finally {
    for (const r of rows) if (r < ctx.nPast) ctx.tokens[r] = IMAGE_ROW;
  }
}

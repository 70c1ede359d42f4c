// loadModel: path, URL or bytes -> a ready Model (weights as views into the loaded bytes, a
// tokenizer, an architecture). Three layers: container (GGUF / HF folder) -> quant formats
// (inside the kernels) -> architecture (models/). Isomorphic: file paths go through node-io.ts,
// imported only when a path is given, so the same module runs in a browser bundle.

import { AbortError, ArgumentError, FormatError, LutraError, ModelError, TokenizerError, UnsupportedError, throwIfAborted } from '../core/errors.js';
import { GGUFType, parseGGUF, plainValue } from '../formats/gguf.js';
import { mergeSplit, orderShards, parseGGUFModel, type Shard } from '../formats/gguf-split.js';
import { GENERAL, TENSOR, hpKey } from '../formats/gguf-names.js';
import type { ModelSource } from '../formats/source.js';
import { createKernels, type BackendName, type Kernels, type LutTables, type MatmulKernels } from '../kernels/index.js';
import type { WeightMatrix } from '../kernels/types.js';
import { getArchitecture, type Architecture, type DecoderHParams } from '../models/index.js';
import { ggufTypeName } from '../models/hparams.js';
import { hasFormat, quantFormat } from '../quant/table.js';
import { tokenizerFromGGUF, tokenizerFromJSON, renderChatTemplate, resolveChatTemplate, familyChatTemplate, type Tokenizer, type EncodeOptions, type ResolvedChatTemplate } from '../tokenizer/index.js';
import { CoreTokenizer } from '../tokenizer/vocab.js';
import { Context, type ContextOptions } from './context.js';
import { infllm2FromMetadata } from './kv/index.js';
import { chooseGpu } from './gpu-backend.js';
import { GpuContext } from './gpu-context.js';
import type { GpuLlama } from '../models/gpu-llama.js';
import type { GpuOptions } from '../kernels/webgpu/index.js';
import { embedTokens, modelPooling, type Pooling } from './embed.js';
import { generateTokens, type GenerateChunk, type GenerateOptions } from './generate.js';
import { createDrafter, drafterKey, generateSpeculative, type SpeculativeOptions } from './speculative.js';
import type { Drafter } from './spec/drafters.js';

export interface LoadProgress {
  phase: 'read' | 'parse' | 'ready';
  loaded: number;
  total: number;
}

export interface LoadOptions {
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /**
   * Kernel backend (default auto: WebGPU where a hardware adapter exists and the model fits it,
   * else WebAssembly SIMD when available). 'webgpu' insists on the GPU.
   */
  backend?: BackendName;
  /** WebGPU device options (a smaller binding limit, no shader-f16). */
  gpu?: GpuOptions;
  /** Threads for the WebAssembly backend (default: the number of cores). */
  threads?: number;
  /**
   * false: run the WebAssembly kernels on one thread over ordinary memory, as they do where
   * SharedArrayBuffer is missing (a page that is not cross-origin isolated). Default: shared.
   */
  sharedMemory?: boolean;
  /** Defaults for contexts made by generate() and createContext(). */
  context?: ContextOptions;
  /** Matrix kernels for 1-4-bit formats: 'lut' (table lookup), 'dequant', or 'auto' (the measured rule). */
  kernels?: MatmulKernels;
  /** Table-lookup tables: 'int8' (default) or 'exact' (int16, the dequantize kernels' integer sums). */
  lutTables?: LutTables;
  /**
   * The chat template: a built-in's name (chatml, llama-3, qwen3, ...) or Jinja source; it wins over
   * the model's own. Default: the model's, else its family's built-in or ChatML (then `model.chatTemplate.source` is 'fallback').
   */
  chatTemplate?: string;
}

export interface ChatMessage {
  role: string;
  content: string;
}

export class Model {
  private disposed = false;
  private defaultContext: Context | undefined;
  /** The end of the queue of generate() calls on the default context: each waits for the one before. */
  private defaultTail: Promise<void> = Promise.resolve();
  /** The template applyChatTemplate() renders with, and where it came from (LoadOptions.chatTemplate). */
  chatTemplate: ResolvedChatTemplate;

  constructor(
    readonly file: string,
    readonly source: ModelSource,
    readonly arch: string,
    readonly hparams: DecoderHParams,
    private readonly architecture: Architecture,
    private readonly weights: unknown,
    readonly tokenizer: Tokenizer,
    readonly kernels: Kernels,
    private readonly contextDefaults: ContextOptions = {},
    /** One line on the kernel backend chosen (what `lutra run --verbose` prints). */
    readonly kernelNote = `kernels: ${kernels.name}`,
    chatTemplate?: ResolvedChatTemplate,
  ) {
    this.chatTemplate = chatTemplate ?? resolveChatTemplate(tokenizer.chatTemplate);
  }

  /** Metadata as plain values (GGUF keys). */
  get metadata(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of this.source.metadata) out[k] = plainValue(v);
    return out;
  }

  private check(): void {
    if (this.disposed) throw new LutraError('E_DISPOSED', `model ${this.file} has been disposed`);
  }

  /** The forward on the GPU when the backend is WebGPU (contexts made without their own kernels use it). */
  gpuForward: GpuLlama | null = null;

  createContext(opts: ContextOptions = {}): Context {
    this.check();
    const o = this.withDeclaredSparseConfig({ ...this.contextDefaults, ...opts });
    if (this.gpuForward && !opts.kernels && !opts.layers && !opts.head) return new GpuContext(this.kernels, this.architecture, this.hparams, this.weights, o, this.gpuForward);
    return new Context(this.kernels, this.architecture, this.hparams, this.weights, o);
  }

  /** InfLLM v2 asked for (`infllm2: true` or some settings): the model's declared sparse_config fills in the rest. */
  private withDeclaredSparseConfig(o: ContextOptions): ContextOptions {
    const c = o.cacheType;
    if (typeof c !== 'object' || !c.infllm2) return o;
    const declared = infllm2FromMetadata(this.source.metadata, this.arch);
    return declared ? { ...o, cacheType: { ...c, infllm2: { ...declared, ...(c.infllm2 === true ? {} : c.infllm2) } } } : o;
  }

  /** The output projection (the token embedding when tied), for draft heads over part of the vocabulary. */
  outputMatrix(): WeightMatrix {
    this.check();
    return this.architecture.output(this.weights);
  }

  tokenize(text: string, opts?: EncodeOptions): number[] {
    this.check();
    return this.tokenizer.encode(text, opts);
  }

  detokenize(ids: ArrayLike<number>, special = false): string {
    return this.tokenizer.decode(ids, special);
  }

  /** Render messages with `opts.template` (Jinja source), else the model's template (ChatML when it has none). */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean; template?: string } = {}): string {
    return renderChatTemplate(opts.template ?? this.chatTemplate.template, messages, {
      addGenerationPrompt: opts.addGenerationPrompt ?? true,
      bosToken: this.tokenizer.bosText,
      eosToken: this.tokenizer.eosText,
      name: opts.template === undefined ? this.chatTemplate.name : 'custom',
    });
  }

  /**
   * Stream a completion. Pass `context` to continue in (and reuse the cached prefix of) a
   * context you keep; otherwise the model's own default context is reused between calls.
   * Calls on the default context are queued first in, first out (in the order they are first
   * read): one started while another runs waits until that one finishes or its consumer stops
   * reading, so concurrent calls never interleave in one KV cache. Calls given their own
   * `context` do not wait (do not share one context between concurrent calls yourself).
   */
  generate(prompt: string | ArrayLike<number>, opts: GenerateOptions & { context?: Context } = {}): AsyncIterable<GenerateChunk> {
    this.check();
    if (opts.context) return this.stream(opts.context, prompt, opts);
    const ctx = (this.defaultContext ??= this.createContext());
    const self = this;
    return (async function* () {
      // The queue is joined at the first read, so an iterable never read holds nobody up.
      const before = self.defaultTail;
      let release!: () => void;
      self.defaultTail = new Promise<void>((r) => { release = r; });
      try {
        await before;
        yield* self.stream(ctx, prompt, opts);
      } finally {
        release();
      }
    })();
  }

  /** How embed() pools token states: the file's {arch}.pooling_type, else mean (as llama-server). */
  get pooling(): Pooling {
    return modelPooling(this.source, this.arch);
  }

  /**
   * The L2-normalized embedding of a text (tokenized with the model's BOS rules) or of token ids:
   * final-normed hidden states pooled as `pooling` says. On `context`, else queued on the default
   * context as generate() calls are.
   */
  async embed(input: string | ArrayLike<number>, opts: { context?: Context; pooling?: Pooling } = {}): Promise<Float32Array> {
    this.check();
    const ids = typeof input === 'string' ? this.tokenize(input, { addSpecial: true, parseSpecial: true }) : input;
    const pooling = opts.pooling ?? this.pooling;
    if (opts.context) return embedTokens(opts.context, ids, pooling);
    const ctx = (this.defaultContext ??= this.createContext());
    const before = this.defaultTail;
    let release!: () => void;
    this.defaultTail = new Promise<void>((r) => { release = r; });
    try {
      await before;
      return embedTokens(ctx, ids, pooling);
    } finally {
      release();
    }
  }

  /** Plain or speculative generation in `ctx`. */
  private stream(ctx: Context, prompt: string | ArrayLike<number>, opts: GenerateOptions): AsyncGenerator<GenerateChunk> {
    if (opts.speculative) return generateSpeculative(ctx, this.tokenizer, prompt, opts, this.drafterFor(ctx, opts.speculative));
    return generateTokens(ctx, this.tokenizer, prompt, opts);
  }

  /** Drafters kept per context while their options stay the same (their own contexts are costly to refill). */
  private readonly drafters = new Map<Context, { key: unknown[]; drafter: Drafter }>();

  private drafterFor(ctx: Context, spec: SpeculativeOptions): Drafter {
    const key = drafterKey(spec);
    const got = this.drafters.get(ctx);
    if (got && got.key.every((v, i) => v === key[i])) return got.drafter;
    got?.drafter.dispose();
    this.drafters.delete(ctx);
    const drafter = createDrafter(this, ctx, spec);
    this.drafters.set(ctx, { key, drafter });
    // A drafter holds a context as large as ctx: it goes when ctx does (a chat session's, say), not with the model.
    if (!got) ctx.onDispose(() => { this.drafters.get(ctx)?.drafter.dispose(); this.drafters.delete(ctx); });
    return drafter;
  }

  /** Convenience: the whole completion as a string. */
  async complete(prompt: string, opts: GenerateOptions = {}): Promise<string> {
    let s = '';
    for await (const c of this.generate(prompt, opts)) s += c.text;
    return s;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const { drafter } of this.drafters.values()) drafter.dispose();
    this.drafters.clear();
    this.defaultContext?.dispose();
    this.defaultContext = undefined;
    this.gpuForward?.dispose();
    this.gpuForward = null;
    this.kernels.dispose?.();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Why a request got no answer: fetch says only "fetch failed"; the cause has the code (ECONNREFUSED, ENOTFOUND ...). */
function fetchCause(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return [cause?.code, cause?.message ?? (e as Error)?.message].filter((x, i, a) => x && a.indexOf(x) === i).join(': ') || String(e);
}

async function fetchWithProgress(url: string, opts: ReadOpts, redirected?: (finalUrl: string) => void): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) throw new AbortError();
    throw new LutraError('E_FETCH', `GET ${url}: ${fetchCause(e)}`);
  }
  if (!res.ok || !res.body) throw new LutraError('E_FETCH', `GET ${url}: HTTP ${res.status} ${res.statusText}`);
  if (res.redirected && res.url) redirected?.(res.url);
  const total = Number(res.headers.get('content-length') ?? 0);
  const parts: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    opts.onProgress?.({ phase: 'read', loaded, total: total || loaded });
  }
  const out = opts.alloc ? opts.alloc(loaded) : new Uint8Array(loaded);
  let p = 0;
  for (const part of parts) { out.set(part, p); p += part.byteLength; }
  return out;
}

/** One file of a model: a path (Node.js), a URL, the bytes of a GGUF file, or a Blob / File. */
export type ModelPart = string | URL | Uint8Array | ArrayBuffer | Blob;
/**
 * Where a model can come from: one file (a split GGUF's other shards are found beside a path or URL
 * by their llama-gguf-split names), or every shard of a split GGUF in any order (Files, bytes, URLs).
 */
export type ModelInput = ModelPart | ModelPart[];

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

async function readBlob(blob: Blob, name: string, opts: ReadOpts): Promise<Uint8Array> {
  const out = opts.alloc ? opts.alloc(blob.size) : new Uint8Array(blob.size);
  const reader = blob.stream().getReader();
  let loaded = 0;
  for (;;) {
    throwIfAborted(opts.signal);
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > out.length) throw new FormatError(name, `file grew while reading: more than ${out.length} bytes`);
    out.set(value, loaded);
    loaded += value.byteLength;
    opts.onProgress?.({ phase: 'read', loaded, total: out.length });
  }
  if (loaded !== out.length) throw new FormatError(name, `file shrank while reading: got ${loaded} of ${out.length} bytes`, loaded);
  return out;
}

type ReadOpts = LoadOptions & { alloc?: (n: number) => Uint8Array };

/** One GGUF file's bytes, and how to read another file by name where it has a place (a path or URL). */
interface PartBytes {
  name: string;
  bytes: Uint8Array;
  sibling?: (name: string) => Promise<Uint8Array>;
  /** Where a URL's redirects led: a split GGUF's shards are found from it when the URL asked for has no shard name. */
  redirectedTo?: string;
}

async function readPart(input: ModelPart, opts: ReadOpts): Promise<PartBytes | ModelSource> {
  if (input instanceof ArrayBuffer) input = new Uint8Array(input);
  if (input instanceof Uint8Array) {
    // The caller keeps its bytes; the kernels get one copy in the memory they compute on.
    let bytes = input;
    if (opts.alloc) { bytes = opts.alloc(input.byteLength); bytes.set(input); } else if (input.byteOffset % 8 !== 0) bytes = input.slice();
    return { name: '<bytes>', bytes };
  }
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    const name = (input as { name?: string }).name || '<blob>';
    return { name, bytes: await readBlob(input, name, opts) };
  }
  const s = input instanceof URL ? input.href : (input as string);
  const fetched = async (url: string): Promise<PartBytes> => {
    let finalUrl: string | undefined;
    const bytes = await fetchWithProgress(url, opts, (u) => { finalUrl = u; });
    return { name: url, redirectedTo: finalUrl, bytes, sibling: thenRead(bytes, opts, (u, o) => fetchWithProgress(u, o)) };
  };
  if (/^(https?|blob|data):/i.test(s)) return fetched(s);
  // In a page or worker a bare string is a URL relative to it.
  if (!isNode) return fetched(new URL(s, (globalThis as { location?: { href: string } }).location?.href).href);
  // hf:OWNER/REPO[:QUANT] -> a file (a split GGUF's first shard) or folder in the Hugging Face cache, pulled if missing.
  if (s.startsWith('hf:')) return readPart(await (await import('../hub/index.js')).resolveHubReference(s, { signal: opts.signal }), opts);
  const path = s.startsWith('file:') ? new URL(s).pathname : s;
  const io = await import('./node-io.js');
  const got = await io.readModelPath(path, opts);
  return got instanceof Uint8Array ? { name: path, bytes: got, sibling: thenRead(got, opts, io.readFileWithProgress) } : got;
}

/**
 * How a split GGUF's other shards are read after `first`: progress counts on from the bytes already
 * read, so one bar covers all shards (its total grows as each shard starts).
 */
function thenRead(first: Uint8Array, opts: ReadOpts, read: (name: string, opts: ReadOpts) => Promise<Uint8Array>): (name: string) => Promise<Uint8Array> {
  let done = first.byteLength;
  return async (name) => {
    const base = done;
    const b = await read(name, { ...opts, onProgress: opts.onProgress && ((p) => opts.onProgress!({ ...p, loaded: base + p.loaded, total: base + p.total })) });
    done += b.byteLength;
    return b;
  };
}

async function readSource(input: ModelInput, opts: ReadOpts): Promise<ModelSource> {
  if (Array.isArray(input)) {
    if (input.length === 0) throw new ArgumentError('loadModel: the list of model files is empty');
    if (input.length > 1) return readShards(input, opts);
    input = input[0]!;
  }
  const got = await readPart(input, opts);
  return 'metadata' in got ? got : ggufSource(got);
}

/** A GGUF file's source; a shard of a split model is read with all its others (found by name) and merged. */
function ggufSource(part: PartBytes): Promise<ModelSource> {
  return parseGGUFModel(part.name, part.bytes, part.sibling, `pass all its shards together (a list of Files, byte arrays or URLs), or the path or URL of one of them`, part.redirectedTo);
}

/** Every shard of a split GGUF given at once, in any order. */
async function readShards(parts: ModelPart[], opts: ReadOpts): Promise<ModelSource> {
  const shards: Shard[] = [];
  for (const p of parts) {
    const got = await readPart(p, opts);
    if ('metadata' in got) throw new ArgumentError(`${got.file}: a folder cannot be one shard of a split GGUF`);
    shards.push({ file: got.name, gguf: parseGGUF(got.bytes, got.name) });
  }
  const ordered = orderShards(shards);
  return { file: ordered[0]!.file, ...mergeSplit(ordered) };
}

export function tokenizerForSource(src: ModelSource): Tokenizer {
  if (src.tokenizerJson !== undefined) return tokenizerFromJSON(src.tokenizerJson, src.tokenizerConfig, src.file);
  return tokenizerFromGGUF(src.metadata, src.file);
}

/**
 * The model's tokenizer, checked against the embedding: any fault is the model file's (E_MODEL),
 * never a request's. A GGUF vocabulary must match token_embd.weight row for row, as llama.cpp
 * requires; a tokenizer.json may be shorter (Hugging Face pads the embedding) and the extra rows
 * become padding ids that decode to nothing, as transformers does.
 */
function modelTokenizer(src: ModelSource, nVocab: number): Tokenizer {
  let tok: Tokenizer;
  try {
    tok = tokenizerForSource(src);
  } catch (e) {
    if (e instanceof TokenizerError) throw new ModelError(e.message.startsWith(src.file) ? e.message : `${src.file}: ${e.message}`);
    throw e;
  }
  const vocabKey = hpKey(String(src.metadata.get(GENERAL.architecture)?.value), 'vocabSize');
  const declared = src.metadata.get(vocabKey);
  if (declared && Number(declared.value) !== nVocab) {
    throw new ModelError(`${src.file}: metadata ${vocabKey} = ${Number(declared.value)} but ${TENSOR.tokenEmbd} has ${nVocab} rows`);
  }
  const fromJson = src.tokenizerJson !== undefined;
  if (tok.vocabSize > nVocab || (!fromJson && tok.vocabSize !== nVocab)) {
    const what = fromJson ? 'tokenizer.json has' : 'the vocabulary (tokenizer.ggml.tokens) has';
    throw new ModelError(`${src.file}: ${what} ${tok.vocabSize} tokens but ${TENSOR.tokenEmbd} has ${nVocab} rows`);
  }
  if (tok.vocabSize < nVocab && tok instanceof CoreTokenizer) tok.padTo(nVocab);
  return tok;
}

/**
 * Tensors of up to this many elements are scanned whole for NaN / Inf at load: every norm weight and
 * bias, and all of a model as small as stories260K. Counted in elements, not bytes, so a 0.5B Q4_0
 * file's 450 KB attention matrices are not decoded whole (that would cost ~0.5 s in TypeScript).
 */
const FULL_SCAN_ELEMENTS = 1 << 16;
/** Rows decoded from each larger tensor (first, middle, last): enough to catch a matrix that is all Inf. */
const SAMPLED_ROWS = 3;

/**
 * A NaN or Inf in the weights makes every logit NaN, and generation then stops at once with empty
 * text. Refuse it at load, naming the tensor: small tensors are decoded whole, larger ones at
 * SAMPLED_ROWS evenly spaced rows (a cheap check, not a proof, for the big matrices).
 */
function checkFiniteWeights(src: ModelSource): void {
  let buf = new Float32Array(0);
  for (const t of src.tensors) {
    if (!hasFormat(t.type) || t.nbytes === 0) continue;
    const format = quantFormat(t.type, t.name);
    const rowLen = t.shape[0] ?? 1;
    const nRows = t.shape.slice(1).reduce((a, b) => a * b, 1);
    if (rowLen === 0 || nRows === 0) continue;
    const rowBytes = t.nbytes / nRows;
    const spans: Array<[row: number, count: number]> = [];
    if (rowLen * nRows <= FULL_SCAN_ELEMENTS) spans.push([0, nRows]);
    else {
      let last = -1;
      for (let k = 0; k < SAMPLED_ROWS; k++) {
        const r = Math.floor(((nRows - 1) * k) / Math.max(1, SAMPLED_ROWS - 1));
        if (r !== last) spans.push([r, 1]);
        last = r;
      }
    }
    for (const [row, count] of spans) {
      const n = count * rowLen;
      if (buf.length < n) buf = new Float32Array(n);
      format.dequantize(t.data, row * rowBytes, buf, 0, n);
      for (let i = 0; i < n; i++) {
        const v = buf[i]!;
        if (v - v !== 0) {
          const at = t.shape.length > 1 ? `row ${row + Math.floor(i / rowLen)}, column ${i % rowLen}` : `element ${i}`;
          throw new ModelError(`${src.file}: tensor ${t.name} holds ${v} at ${at}; the weights must be finite`);
        }
      }
    }
  }
}

/** Bytes of what is already in memory (byte arrays, Blobs, lists of them), else undefined. */
function inMemorySize(input: ModelInput): number | undefined {
  const one = (p: ModelPart) => p instanceof Uint8Array || p instanceof ArrayBuffer ? p.byteLength : typeof Blob !== 'undefined' && p instanceof Blob ? p.size : undefined;
  const sizes = (Array.isArray(input) ? input : [input]).map(one);
  return sizes.every((n) => n !== undefined) ? sizes.reduce((a, b) => a! + b!, 0) : undefined;
}

export async function loadModel(input: ModelInput, opts: LoadOptions = {}): Promise<Model> {
  throwIfAborted(opts.signal);
  // Kernels first: the file is read straight into the memory they compute on.
  // Memory that cannot grow (no SharedArrayBuffer) is sized once: the file plus room for KV caches.
  const size = inMemorySize(input);
  const memoryBytes = size !== undefined ? Math.ceil(size * 1.1) + 512 * 2 ** 20 : undefined;
  const { kernels, note } = await createKernels({ backend: opts.backend, threads: opts.threads, shared: opts.sharedMemory, memoryBytes, matmul: opts.kernels, lutTables: opts.lutTables });
  try {
    const alloc = kernels.allocBytes ? (n: number) => kernels.allocBytes!(n) : undefined;
    const src = await readSource(input, { ...opts, alloc });
    throwIfAborted(opts.signal);
    opts.onProgress?.({ phase: 'parse', loaded: 0, total: 1 });
    const archName = src.metadata.get(GENERAL.architecture);
    if (!archName) throw new FormatError(src.file, `missing metadata key ${GENERAL.architecture}`);
    if (archName.type !== GGUFType.STRING) throw new FormatError(src.file, `metadata ${GENERAL.architecture} has type ${ggufTypeName(archName)}, should be STRING`);
    const arch = getArchitecture(archName.value, src.file);
    const { hp, w } = arch.load(src, kernels.allocF32 ? (n) => kernels.allocF32!(n) : undefined);
    const tok = modelTokenizer(src, hp.nVocab);
    const chatTemplate = resolveChatTemplate(tok.chatTemplate, opts.chatTemplate, { arch: arch.name, template: familyChatTemplate(arch.name, (text) => isControlToken(tok, text)) });
    // Before the kernels re-lay any matrix in place: the scan reads the bytes as the file has them.
    checkFiniteWeights(src);
    // WebGPU reads the matrices as the file has them: the CPU kernels then keep them unchanged too.
    const gpu = opts.backend === 'webgpu' || opts.backend === 'auto' || opts.backend === undefined ? await chooseGpu(opts.backend ?? 'auto', arch, hp, w, kernels, { gpu: opts.gpu }) : null;
    const matmulNote = gpu?.gpu ? undefined : kernels.prepareWeights?.(arch.matmulWeights(w));
    opts.onProgress?.({ phase: 'ready', loaded: 1, total: 1 });
    if (opts.signal?.aborted) { gpu?.gpu?.dispose(); throw new AbortError(); }
    const m = new Model(src.file, src, arch.name, hp, arch, w, tok, kernels, opts.context, [note, matmulNote, gpu?.note].filter(Boolean).join('; '), chatTemplate);
    m.gpuForward = gpu?.gpu ?? null;
    return m;
  } catch (e) {
    kernels.dispose?.();
    throw e;
  }
}

/** The vocabulary holds `text` as one control token (what a family's built-in template needs of it). */
function isControlToken(tok: Tokenizer, text: string): boolean {
  const ids = tok.encode(text, { addSpecial: false, parseSpecial: true });
  return ids.length === 1 && tok.isControl(ids[0]!);
}

/**
 * Only the tokenizer of a model: a GGUF file (vocabulary-only GGUFs included), a Hugging Face
 * folder, or a bare tokenizer.json (with tokenizer_config.json read from beside it if present).
 */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  const { loadTokenizerFromPath } = await import('./node-io.js');
  return loadTokenizerFromPath(path);
}

// loadModel: path, URL or bytes -> a ready Model (weights as views into the loaded bytes, a
// tokenizer, an architecture). Three layers: container (GGUF / HF folder) -> quant formats
// (inside the kernels) -> architecture (models/).

import { open, stat } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';
import { AbortError, ArgumentError, FormatError, LutraError, throwIfAborted } from '../core/errors.js';
import { parseGGUF, plainValue } from '../formats/gguf.js';
import type { ModelSource } from '../formats/source.js';
import { createKernels, type BackendName, type Kernels } from '../kernels/index.js';
import { getArchitecture } from '../models/index.js';
import type { DecoderHParams, DecoderWeights } from '../models/layers.js';
import { tokenizerFromGGUF, tokenizerFromJSON, renderChatTemplate, type Tokenizer, type EncodeOptions } from '../tokenizer/index.js';
import { Context, type ContextOptions } from './context.js';
import { generateTokens, type GenerateChunk, type GenerateOptions } from './generate.js';

export interface LoadProgress {
  phase: 'read' | 'parse' | 'ready';
  loaded: number;
  total: number;
}

export interface LoadOptions {
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** Kernel backend (default auto). */
  backend?: BackendName;
  /** Defaults for contexts made by generate() and createContext(). */
  context?: ContextOptions;
}

export interface ChatMessage {
  role: string;
  content: string;
}

export class Model {
  private disposed = false;
  private defaultContext: Context | undefined;

  constructor(
    readonly file: string,
    readonly source: ModelSource,
    readonly arch: string,
    readonly hparams: DecoderHParams,
    private readonly weights: DecoderWeights,
    readonly tokenizer: Tokenizer,
    readonly kernels: Kernels,
    private readonly contextDefaults: ContextOptions = {},
  ) {}

  /** Metadata as plain values (GGUF keys). */
  get metadata(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of this.source.metadata) out[k] = plainValue(v);
    return out;
  }

  private check(): void {
    if (this.disposed) throw new LutraError('E_DISPOSED', `model ${this.file} has been disposed`);
  }

  createContext(opts: ContextOptions = {}): Context {
    this.check();
    return new Context(this.kernels, this.hparams, this.weights, { ...this.contextDefaults, ...opts });
  }

  tokenize(text: string, opts?: EncodeOptions): number[] {
    this.check();
    return this.tokenizer.encode(text, opts);
  }

  detokenize(ids: ArrayLike<number>, special = false): string {
    return this.tokenizer.decode(ids, special);
  }

  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean; template?: string } = {}): string {
    const template = opts.template ?? this.tokenizer.chatTemplate;
    if (!template) throw new LutraError('E_NO_TEMPLATE', `model ${this.file} has no chat template (tokenizer.chat_template)`);
    return renderChatTemplate(template, messages, {
      addGenerationPrompt: opts.addGenerationPrompt ?? true,
      bosToken: this.tokenizer.bosText,
      eosToken: this.tokenizer.eosText,
    });
  }

  /**
   * Stream a completion. Pass `context` to continue in (and reuse the cached prefix of) a
   * context you keep; otherwise the model's own default context is reused between calls.
   */
  generate(prompt: string | ArrayLike<number>, opts: GenerateOptions & { context?: Context } = {}): AsyncIterable<GenerateChunk> {
    this.check();
    const ctx = opts.context ?? (this.defaultContext ??= this.createContext());
    return generateTokens(ctx, this.tokenizer, prompt, opts);
  }

  /** Convenience: the whole completion as a string. */
  async complete(prompt: string, opts: GenerateOptions = {}): Promise<string> {
    let s = '';
    for await (const c of this.generate(prompt, opts)) s += c.text;
    return s;
  }

  dispose(): void {
    this.disposed = true;
    this.defaultContext = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Read a whole file into one buffer (the only copy of the weights), reporting progress. */
async function readFileWithProgress(path: string, opts: LoadOptions): Promise<Uint8Array> {
  const st = await stat(path);
  if (st.size > bufferConstants.MAX_LENGTH) throw new ArgumentError(`${path}: ${st.size} bytes is larger than this runtime can hold in one buffer (${bufferConstants.MAX_LENGTH})`);
  const buf = Buffer.allocUnsafe(st.size);
  const fh = await open(path, 'r');
  try {
    const CHUNK = 1 << 24;
    let pos = 0;
    while (pos < st.size) {
      throwIfAborted(opts.signal);
      const { bytesRead } = await fh.read(buf, pos, Math.min(CHUNK, st.size - pos), pos);
      if (bytesRead === 0) throw new FormatError(path, `file shrank while reading: got ${pos} of ${st.size} bytes`, pos);
      pos += bytesRead;
      opts.onProgress?.({ phase: 'read', loaded: pos, total: st.size });
    }
  } finally {
    await fh.close();
  }
  // Buffer.allocUnsafe may hand out a slice of a shared pool for small sizes; weights need their
  // own, aligned ArrayBuffer so typed views over it line up.
  if (buf.byteOffset !== 0) return new Uint8Array(buf);
  return new Uint8Array(buf.buffer, 0, st.size);
}

async function fetchWithProgress(url: string, opts: LoadOptions): Promise<Uint8Array> {
  const res = await fetch(url, { signal: opts.signal });
  if (!res.ok || !res.body) throw new LutraError('E_FETCH', `${url}: HTTP ${res.status} ${res.statusText}`);
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
  const out = new Uint8Array(loaded);
  let p = 0;
  for (const part of parts) { out.set(part, p); p += part.byteLength; }
  return out;
}

async function readSource(input: string | URL | Uint8Array | ArrayBuffer, opts: LoadOptions): Promise<ModelSource> {
  if (input instanceof ArrayBuffer) input = new Uint8Array(input);
  if (input instanceof Uint8Array) {
    const bytes = input.byteOffset % 8 === 0 ? input : input.slice();
    return sourceFromGGUF(bytes, '<bytes>');
  }
  const s = input instanceof URL ? input.href : input;
  if (/^https?:\/\//i.test(s)) return sourceFromGGUF(await fetchWithProgress(s, opts), s);
  const path = s.startsWith('file:') ? new URL(s).pathname : s;
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new ArgumentError(`${path}: no such file or directory`);
  }
  if (st.isDirectory()) {
    const { loadHFFolder } = await import('../formats/hf-folder.js');
    return loadHFFolder(path, { signal: opts.signal, onProgress: (p) => opts.onProgress?.({ phase: 'read', ...p }) });
  }
  if (/\.safetensors$/i.test(path)) throw new ArgumentError(`${path}: a bare .safetensors file has no config; pass the Hugging Face model folder that holds it and config.json`);
  return sourceFromGGUF(await readFileWithProgress(path, opts), path);
}

function sourceFromGGUF(bytes: Uint8Array, file: string): ModelSource {
  const g = parseGGUF(bytes, file);
  return { file, metadata: g.metadata, tensors: g.tensors };
}

export function tokenizerForSource(src: ModelSource): Tokenizer {
  if (src.tokenizerJson !== undefined) return tokenizerFromJSON(src.tokenizerJson, src.tokenizerConfig, src.file);
  return tokenizerFromGGUF(src.metadata, src.file);
}

export async function loadModel(input: string | URL | Uint8Array | ArrayBuffer, opts: LoadOptions = {}): Promise<Model> {
  throwIfAborted(opts.signal);
  const src = await readSource(input, opts);
  throwIfAborted(opts.signal);
  opts.onProgress?.({ phase: 'parse', loaded: 0, total: 1 });
  const archName = src.metadata.get('general.architecture');
  if (!archName || typeof archName.value !== 'string') throw new FormatError(src.file, 'missing metadata key general.architecture');
  const arch = getArchitecture(archName.value, src.file);
  const { hp, w } = arch.load(src);
  const tok = tokenizerForSource(src);
  if (tok.vocabSize > hp.nVocab) {
    throw new FormatError(src.file, `the tokenizer has ${tok.vocabSize} tokens but token_embd.weight has ${hp.nVocab} rows`);
  }
  const kernels = createKernels(opts.backend ?? 'auto');
  opts.onProgress?.({ phase: 'ready', loaded: 1, total: 1 });
  if (opts.signal?.aborted) throw new AbortError();
  return new Model(src.file, src, arch.name, hp, w, tok, kernels, opts.context);
}

/**
 * Only the tokenizer of a model: a GGUF file (vocabulary-only GGUFs included), a Hugging Face
 * folder, or a bare tokenizer.json (with tokenizer_config.json read from beside it if present).
 */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  const { readFile } = await import('node:fs/promises');
  const { join, dirname } = await import('node:path');
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new ArgumentError(`${path}: no such file or directory`);
  }
  const readJson = async (p: string, required: boolean): Promise<unknown> => {
    let text: string;
    try {
      text = await readFile(p, 'utf8');
    } catch {
      if (required) throw new ArgumentError(`${p}: cannot read file`);
      return undefined;
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new FormatError(p, `invalid JSON: ${(e as Error).message}`);
    }
  };
  if (st.isDirectory()) {
    return tokenizerFromJSON(await readJson(join(path, 'tokenizer.json'), true), await readJson(join(path, 'tokenizer_config.json'), false), path);
  }
  if (/\.json$/i.test(path)) {
    return tokenizerFromJSON(await readJson(path, true), await readJson(join(dirname(path), 'tokenizer_config.json'), false), path);
  }
  const bytes = await readFileWithProgress(path, {});
  return tokenizerFromGGUF(parseGGUF(bytes, path).metadata, path);
}

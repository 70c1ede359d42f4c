// Node.js file reading for loadModel / loadTokenizer: paths, folders, progress. model.ts imports
// this module dynamically and only for path inputs, so the engine itself stays isomorphic (the
// browser bundle loads from a URL, bytes or a File and never reaches this file).

import { stat } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';
import { dirname, join } from 'node:path';
import { FileError, FormatError, throwIfAborted } from '../core/errors.js';
import { parseGGUF } from '../formats/gguf.js';
import { parseGGUFModel, splitInfo, splitShardNames } from '../formats/gguf-split.js';
import { fileError, MAX_TOKENIZER_JSON_BYTES, openRegularFile, readJson, statRegularFile } from '../formats/hf-folder.js';
import type { ModelSource } from '../formats/source.js';
import { tokenizerFromGGUF, tokenizerFromJSON, type Tokenizer } from '../tokenizer/index.js';

export interface ReadOptions {
  onProgress?: (p: { phase: 'read'; loaded: number; total: number }) => void;
  signal?: AbortSignal;
  /** Where the file's bytes go (the kernels' WebAssembly memory), so weights are never copied. */
  alloc?: (n: number) => Uint8Array;
}

/** Read a whole file into one buffer (the only copy of the weights), reporting progress. */
export async function readFileWithProgress(path: string, opts: ReadOptions): Promise<Uint8Array> {
  const st = await statRegularFile(path);
  if (!st) throw new FileError(path, 'no such file or directory');
  if (st.size > bufferConstants.MAX_LENGTH) throw new FileError(path, `${st.size} bytes is larger than this runtime can hold in one buffer (${bufferConstants.MAX_LENGTH})`);
  if (opts.alloc) {
    const out = opts.alloc(st.size);
    const fh = await openRegularFile(path);
    try {
      let pos = 0;
      while (pos < st.size) {
        throwIfAborted(opts.signal);
        const { bytesRead } = await fh.read(out, pos, Math.min(1 << 24, st.size - pos), pos);
        if (bytesRead === 0) throw new FormatError(path, `file shrank while reading: got ${pos} of ${st.size} bytes`, pos);
        pos += bytesRead;
        opts.onProgress?.({ phase: 'read', loaded: pos, total: st.size });
      }
    } finally {
      await fh.close();
    }
    return out;
  }
  const buf = Buffer.allocUnsafe(st.size);
  const fh = await openRegularFile(path);
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

/** A path: a Hugging Face folder (already a ModelSource) or the bytes of a GGUF file. */
export async function readModelPath(path: string, opts: ReadOptions): Promise<ModelSource | Uint8Array> {
  const st = await statPath(path);
  if (st.isDirectory()) {
    const { loadHFFolder } = await import('../formats/hf-folder.js');
    return loadHFFolder(path, { signal: opts.signal, onProgress: (p) => opts.onProgress?.({ phase: 'read', ...p }) });
  }
  if (/\.safetensors$/i.test(path)) throw new FileError(path, `a bare .safetensors file has no config; pass the Hugging Face model folder that holds it and config.json`);
  return readFileWithProgress(path, opts);
}

/**
 * Only the tokenizer of a model: a GGUF file (vocabulary-only GGUFs included), a Hugging Face
 * folder, or a bare tokenizer.json (with tokenizer_config.json read from beside it if present).
 */
export async function loadTokenizerFromPath(path: string): Promise<Tokenizer> {
  const st = await statPath(path);
  const json = (p: string, required: boolean): Promise<unknown> => readJson(p, MAX_TOKENIZER_JSON_BYTES, required ? 'a tokenizer needs it' : undefined);
  if (st.isDirectory()) {
    return tokenizerFromJSON(await json(join(path, 'tokenizer.json'), true), await json(join(path, 'tokenizer_config.json'), false), path);
  }
  if (/\.json$/i.test(path)) {
    return tokenizerFromJSON(await json(path, true), await json(join(dirname(path), 'tokenizer_config.json'), false), path);
  }
  // A split GGUF's vocabulary is in its first shard's metadata.
  const g = parseGGUF(await readFileWithProgress(path, {}), path);
  const split = splitInfo(g.metadata, path);
  if (!split || split.no === 0) return tokenizerFromGGUF(g.metadata, path);
  const first = splitShardNames(path, split)[0]!;
  return tokenizerFromGGUF(parseGGUF(await readFileWithProgress(first, {}), first).metadata, first);
}

/** A GGUF file's metadata and tensors; for a shard of a split GGUF, all shards' (read from beside it), and the bytes read. */
export async function readGGUFModel(path: string, opts: ReadOptions = {}): Promise<ModelSource & { bytes: number }> {
  let bytes = 0;
  const read = async (p: string) => {
    const b = await readFileWithProgress(p, opts);
    bytes += b.byteLength;
    return b;
  };
  return { ...(await parseGGUFModel(path, await read(path), read, '')), bytes };
}

/** stat() of a model path, its errors as FileErrors naming the path. */
async function statPath(path: string): Promise<Awaited<ReturnType<typeof stat>>> {
  try {
    return await stat(path);
  } catch (e) {
    throw fileError(path, e);
  }
}

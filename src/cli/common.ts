// Shared CLI plumbing: option parsers that name the bad flag, model path resolution (including
// the bundled default model), progress bars on stderr, and one-line error reporting.

import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { ArgumentError } from '../core/errors.js';
import { openRegularFile } from '../formats/hf-folder.js';
import type { LoadProgress } from '../runtime/model.js';
import { builtinChatTemplate, builtinChatTemplateNames, isChatTemplateSource } from '../tokenizer/index.js';
import { CHAT_TEMPLATE_LIMITS } from '../tokenizer/chat-template.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** lutra's own default model, trained by `lutra train` (see models/README.md once it exists). */
export const DEFAULT_MODEL = resolve(REPO_ROOT, 'models/lutra-default.gguf');

export function resolveModel(model: string | undefined): string {
  if (model) return model;
  if (existsSync(DEFAULT_MODEL)) return DEFAULT_MODEL;
  throw new ArgumentError('no MODEL given and the bundled default model (models/lutra-default.gguf) is not in this checkout; pass a GGUF file or a Hugging Face folder');
}

export function int(name: string, min = -Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer${min > -Infinity ? ` >= ${min}` : ''}, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** --threads: at least 1, at most the machine's cores (more only make the kernels' workers wait on each other). */
export function threadCount(v: string): number {
  const n = int('--threads', 1)(v);
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  if (n > cores) throw new InvalidArgumentError(`--threads ${n}: this machine has ${cores} core${cores > 1 ? 's' : ''}; use at most ${cores}`);
  return n;
}

/**
 * A text file's contents, refusing bytes that are not UTF-8 (naming the file and the offset)
 * instead of silently turning them into U+FFFD: tokenizing a file must see what is in it.
 */
export async function readUtf8File(path: string): Promise<string> {
  // The model loader's check: a regular file (a directory, device or FIFO is named as such).
  const fh = await openRegularFile(path);
  let bytes: Uint8Array;
  try {
    bytes = await fh.readFile();
  } finally {
    await fh.close();
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ArgumentError(`${path}: not valid UTF-8 (first bad byte at offset ${firstInvalidUtf8(bytes)})`);
  }
}

/** All of stdin as text (`lutra run -`), refused when not UTF-8 as files are. */
export async function readUtf8Stdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  const bytes = Buffer.concat(parts);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ArgumentError(`stdin: not valid UTF-8 (first bad byte at offset ${firstInvalidUtf8(bytes)})`);
  }
}

/**
 * --chat-template NAME|FILE: a built-in's name as given, else the file's Jinja source, held to the
 * size limit every template has. Checked before the model loads, so a typo costs no load.
 */
export async function chatTemplateFlag(v: string): Promise<string> {
  if (builtinChatTemplate(v)) return v;
  const size = await stat(v).then((s) => s.size, () => undefined);
  if (size === undefined) throw new ArgumentError(`--chat-template ${JSON.stringify(v)}: neither a built-in template (${builtinChatTemplateNames().join(', ')}) nor a file`);
  const max = CHAT_TEMPLATE_LIMITS.maxSourceChars;
  // A UTF-8 character is at most 4 bytes: anything larger cannot be within the limit.
  if (size > 4 * max) throw new ArgumentError(`--chat-template ${v}: ${size} bytes, over the limit of ${max} characters for a chat template`);
  const text = await readUtf8File(v);
  if (text.length > max) throw new ArgumentError(`--chat-template ${v}: ${text.length} characters, over the limit of ${max} for a chat template`);
  if (!isChatTemplateSource(text)) throw new ArgumentError(`--chat-template ${v}: no {{ }} or {% %} in it, so not a Jinja template`);
  return text;
}

/** The one line `--ctx` past the model's training context earns (run, chat, serve). */
export function ctxOverTrainingWarning(ctx: number | undefined, nCtxTrain: number): string | undefined {
  if (ctx === undefined || ctx <= nCtxTrain) return undefined;
  return `warning: --ctx ${ctx} is more than the model's training context (${nCtxTrain} tokens); text past that is likely to degrade`;
}

/** Offset of the first byte that breaks UTF-8 (a lone continuation, a bad lead, a cut sequence, an overlong or surrogate form). */
export function firstInvalidUtf8(b: Uint8Array): number {
  const dec = new TextDecoder('utf-8', { fatal: true });
  // Grow a prefix by whole characters; the first prefix that fails to decode ends in the bad byte.
  let i = 0;
  while (i < b.length) {
    const lead = b[i]!;
    const len = lead < 0x80 ? 1 : lead >= 0xc2 && lead < 0xe0 ? 2 : lead >= 0xe0 && lead < 0xf0 ? 3 : lead >= 0xf0 && lead < 0xf5 ? 4 : 0;
    if (len === 0 || i + len > b.length) return i;
    try { dec.decode(b.subarray(i, i + len)); } catch { return i; }
    i += len;
  }
  return b.length;
}

export function float(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** A progress bar on stderr when it is a terminal; silent otherwise (CI logs stay clean). */
export function loadProgressBar(quiet: boolean): { onProgress: (p: LoadProgress) => void; stop: () => void } {
  if (quiet || !process.stderr.isTTY) return { onProgress: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format: 'loading [{bar}] {percentage}% {value}/{total} MB', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    onProgress(p) {
      if (p.phase !== 'read') return;
      const total = Math.max(1, Math.round(p.total / 1e6)), value = Math.round(p.loaded / 1e6);
      // A split GGUF's total grows as each shard starts.
      if (!started) { bar.start(total, value); started = true; } else { bar.setTotal(total); bar.update(value); }
    },
    stop() { if (started) bar.stop(); },
  };
}

/** --kernels and --lut-tables: which matrix kernels 1-4-bit formats use, and the LUT table precision. */
export function addKernelFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--kernels <which>', 'matrix kernels for 1-4-bit formats: lut (table lookup), dequant, or auto (the measured rule)').choices(['auto', 'lut', 'dequant']).default('auto'))
    .addOption(new Option('--lut-tables <kind>', 'table-lookup tables: int8 (fast) or exact (int16: the dequantize kernels\' integer sums)').choices(['int8', 'exact']).default('int8'));
}

// llama.cpp's split GGUF (tools/gguf-split): one model in N files `PREFIX-00001-of-0000N.gguf`, each a
// whole GGUF with its own header, tensor infos and data. The first holds every metadata key; all
// hold split.no (0-based), split.count and split.tensors.count (the model's total). Reading: find
// the shards from any one's name and metadata, and merge their tensor tables (each tensor stays a
// view into its own shard's bytes). Writing: cut a model into shards exactly as llama-gguf-split
// --split does, so a split lutra writes is byte for byte the one llama.cpp writes.

import { AbortError, FormatError, LutraError } from '../core/errors.js';
import { GGUFType, parseGGUF, writeGGUF, type GGUFFile, type GGUFTensorInfo, type GGUFTensorToWrite, type GGUFValue } from './gguf.js';
import { SPLIT } from './gguf-names.js';
import { ggmlTypeInfo } from '../quant/table.js';

export interface SplitInfo {
  /** 0-based shard index (split.no). */
  no: number;
  /** Number of shards (split.count). */
  count: number;
  /** Tensors in the whole model (split.tensors.count), when the shard says. */
  tensors: number | undefined;
}

const INTEGER_TYPES = new Set([GGUFType.UINT8, GGUFType.INT8, GGUFType.UINT16, GGUFType.INT16, GGUFType.UINT32, GGUFType.INT32, GGUFType.UINT64, GGUFType.INT64]);

function intKey(metadata: Map<string, GGUFValue>, key: string, file: string): number | undefined {
  const v = metadata.get(key);
  if (!v) return undefined;
  const n = Number(v.value);
  if (!INTEGER_TYPES.has(v.type) || !Number.isSafeInteger(n) || n < 0) throw new FormatError(file, `metadata ${key} must be a non-negative integer, got ${String(v.value)}`);
  return n;
}

/** The shard a GGUF says it is, or undefined for a whole model (no split.count, or 1, as llama.cpp reads it). */
export function splitInfo(metadata: Map<string, GGUFValue>, file: string): SplitInfo | undefined {
  const count = intKey(metadata, SPLIT.count, file);
  if (count === undefined || count <= 1) return undefined;
  const no = intKey(metadata, SPLIT.no, file);
  if (no === undefined) throw new FormatError(file, `metadata ${SPLIT.count} = ${count} but ${SPLIT.no} is missing`);
  if (no >= count) throw new FormatError(file, `metadata ${SPLIT.no} = ${no} is not below ${SPLIT.count} = ${count}`);
  return { no, count, tensors: intKey(metadata, SPLIT.tensorsCount, file) };
}

const pad5 = (n: number) => String(n).padStart(5, '0');
/** `-00002-of-00003.gguf` for the shard with split.no 1 of 3 (llama_split_path's format). */
export const shardSuffix = (no: number, count: number) => `-${pad5(no + 1)}-of-${pad5(count)}.gguf`;
/** Any shard name: `-NNNNN-of-MMMMM.gguf` at the end. */
export const SHARD_NAME = /-(\d{5,})-of-(\d{5,})\.gguf$/i;

/** A URL's query and fragment stay on every shard's URL; a path has none (`?`/`#` are file name characters there). */
function cutQuery(name: string): [string, string] {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(name)) return [name, ''];
  const q = name.search(/[?#]/);
  return q < 0 ? [name, ''] : [name.slice(0, q), name.slice(q)];
}

/**
 * Every shard's path or URL, in order, from one shard's name and metadata (llama.cpp derives them
 * from the first's; any shard works here). A name without the `-NNNNN-of-MMMMM.gguf` its metadata
 * implies is refused, since the others could not be found from it.
 */
export function splitShardNames(name: string, s: SplitInfo): string[] {
  const [base, tail] = cutQuery(name);
  const own = shardSuffix(s.no, s.count);
  if (!base.endsWith(own)) {
    throw new FormatError(name, `is shard ${s.no + 1} of ${s.count} of a split model (${SPLIT.no} = ${s.no}, ${SPLIT.count} = ${s.count}) but its name does not end in ${own}, so the other shards cannot be found; give the shards their llama-gguf-split names`);
  }
  const prefix = base.slice(0, base.length - own.length);
  return Array.from({ length: s.count }, (_, i) => `${prefix}${shardSuffix(i, s.count)}${tail}`);
}

export interface Shard { file: string; gguf: GGUFFile }

/**
 * One model from all its shards in order: the first shard's metadata and every shard's tensors
 * (views into that shard's bytes). Each shard must say it is that shard of the same count; the
 * tensors must be unique and add up to split.tensors.count. Errors name the shard at fault.
 */
export function mergeSplit(shards: Shard[]): { metadata: Map<string, GGUFValue>; tensors: GGUFTensorInfo[] } {
  const first = shards[0];
  if (!first) throw new FormatError('<split>', 'no shards given');
  const head = splitInfo(first.gguf.metadata, first.file);
  if (!head) throw new FormatError(first.file, `is not a shard of a split model (no ${SPLIT.count} above 1)`);
  if (head.no !== 0) throw new FormatError(first.file, `is shard ${head.no + 1} of ${head.count}; the model's metadata is in shard 1`);
  if (head.tensors === undefined) throw new FormatError(first.file, `shard 1 of ${head.count} has no metadata ${SPLIT.tensorsCount}`);
  if (shards.length !== head.count) throw new FormatError(first.file, `${SPLIT.count} = ${head.count} but ${shards.length} shard(s) were given`);
  const owner = new Map<string, string>();
  const tensors: GGUFTensorInfo[] = [];
  shards.forEach((sh, i) => {
    const s = splitInfo(sh.gguf.metadata, sh.file);
    const says = s ? `shard ${s.no + 1} of ${s.count}` : 'a whole model, not a shard';
    if (!s || s.no !== i || s.count !== head.count) throw new FormatError(sh.file, `should be shard ${i + 1} of ${head.count} of ${first.file}, but its metadata says ${says}`);
    if (s.tensors !== undefined && s.tensors !== head.tensors) {
      throw new FormatError(sh.file, `${SPLIT.tensorsCount} = ${s.tensors} but shard 1 (${first.file}) says ${head.tensors}: the shard belongs to another split model`);
    }
    for (const t of sh.gguf.tensors) {
      const other = owner.get(t.name);
      if (other !== undefined) throw new FormatError(sh.file, `tensor ${t.name} is also in ${other}`);
      owner.set(t.name, sh.file);
      tensors.push(t);
    }
  });
  if (tensors.length !== head.tensors) throw new FormatError(first.file, `${SPLIT.tensorsCount} = ${head.tensors} but the ${head.count} shards hold ${tensors.length} tensors`);
  return { metadata: first.gguf.metadata, tensors };
}

/**
 * A GGUF file as one model: itself, or, when it is a shard of a split model, every shard (the others
 * read by name with `readShard`, from beside it) merged. `file` is the first shard's name then.
 * Without `readShard` a shard is refused, `hint` saying what to pass instead.
 */
export async function parseGGUFModel(name: string, bytes: Uint8Array, readShard: ((name: string) => Promise<Uint8Array>) | undefined, hint: string, redirectedTo?: string): Promise<{ file: string; metadata: Map<string, GGUFValue>; tensors: GGUFTensorInfo[] }> {
  const g = parseGGUF(bytes, name);
  const split = splitInfo(g.metadata, name);
  if (!split) return { file: name, metadata: g.metadata, tensors: g.tensors };
  if (!readShard) throw new FormatError(name, `is shard ${split.no + 1} of ${split.count} of a split GGUF; ${hint}`);
  // A URL without a shard name that redirected to one (lutra serve's /model.gguf): the shards are its siblings.
  const useRedirect = redirectedTo !== undefined && !SHARD_NAME.test(cutQuery(name)[0]) && SHARD_NAME.test(cutQuery(redirectedTo)[0]);
  const names = splitShardNames(useRedirect ? redirectedTo : name, split);
  const shards: Shard[] = [];
  for (let i = 0; i < names.length; i++) {
    if (i === split.no) { shards.push({ file: names[i]!, gguf: g }); continue; }
    let b: Uint8Array;
    try {
      b = await readShard(names[i]!);
    } catch (e) {
      if (!(e instanceof LutraError) || e instanceof AbortError) throw e;
      throw new LutraError(e.code, `split GGUF ${names[0]}: cannot read shard ${i + 1} of ${split.count}: ${e.message}`, { cause: e });
    }
    shards.push({ file: names[i]!, gguf: parseGGUF(b, names[i]!) });
  }
  return { file: names[0]!, ...mergeSplit(shards) };
}

/**
 * Shards given in any order (a file picker's selection, a list of URLs) put in split.no order.
 * Errors name the file that is not a shard, two files claiming one shard, or the shard missing.
 */
export function orderShards(shards: Shard[]): Shard[] {
  const infos = shards.map((sh) => {
    const s = splitInfo(sh.gguf.metadata, sh.file);
    if (!s) throw new FormatError(sh.file, `is a whole model, not a shard of a split GGUF (no ${SPLIT.count} above 1); load it on its own`);
    return s;
  });
  const count = Math.max(...infos.map((s) => s.count));
  const out = new Array<Shard | undefined>(count);
  shards.forEach((sh, i) => {
    const { no } = infos[i]!;
    const before = out[no];
    if (before) throw new FormatError(sh.file, `is shard ${no + 1}, and so is ${before.file}`);
    out[no] = sh;
  });
  const given = shards.map((sh, i) => `${sh.file} (${infos[i]!.no + 1} of ${infos[i]!.count})`).join(', ');
  const missing = [...out.keys()].filter((i) => !out[i]).map((i) => i + 1);
  if (missing.length) throw new FormatError(shards[0]!.file, `split model of ${count} shards: shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing; given ${given}`);
  return out as Shard[];
}

export interface SplitOptions {
  /** At most this many tensors per shard (llama-gguf-split --split-max-tensors). */
  maxTensors?: number;
  /** At most this many tensor bytes per shard, each padded to 32 (--split-max-size). */
  maxBytes?: number;
  /** The first shard holds only metadata (--no-tensor-first-split). */
  noTensorFirst?: boolean;
}

/** The GGUF data alignment llama-gguf-split pads each tensor to when it sizes shards. */
const SPLIT_PAD = 32;

/**
 * Cut a model into shards as llama-gguf-split --split does: tensors in order, a new shard when the
 * tensor or byte limit would be passed; the first shard gets all metadata, every shard split.no,
 * split.tensors.count and split.count (in that order, last). Returns each shard as chunks
 * (tensor data not copied); write them to `PREFIX` + shardSuffix(i, n).
 */
export function splitGGUF(metadata: Map<string, GGUFValue>, tensors: GGUFTensorToWrite[], o: SplitOptions): Uint8Array[][] {
  const byTensors = o.maxTensors !== undefined;
  if (byTensors === (o.maxBytes !== undefined)) throw new FormatError('<split>', 'give exactly one of maxTensors and maxBytes');
  const limit = (byTensors ? o.maxTensors : o.maxBytes)!;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new FormatError('<split>', `the ${byTensors ? 'tensor' : 'byte'} limit must be a positive integer, got ${limit}`);
  const groups: GGUFTensorToWrite[][] = [[]];
  const open = (allowEmpty: boolean) => {
    if (!allowEmpty && groups[groups.length - 1]!.length === 0) throw new FormatError('<split>', `a shard would hold no tensors: the ${byTensors ? 'tensor' : 'size'} limit ${limit} is too small`);
    groups.push([]);
  };
  if (o.noTensorFirst) open(true);
  let size = 0;
  tensors.forEach((t, i) => {
    const ti = ggmlTypeInfo(t.type);
    if (!ti) throw new FormatError('<split>', `tensor ${t.name}: unknown ggml type ${t.type}`);
    const n = Math.ceil(t.data.byteLength / SPLIT_PAD) * SPLIT_PAD;
    const cut = byTensors ? i > 0 && i % limit === 0 : size + n > limit;
    if (cut) { open(false); size = n; } else size += n;
    groups[groups.length - 1]!.push(t);
  });
  const count = groups.length;
  return groups.map((group, no) => {
    const md = new Map<string, GGUFValue>();
    if (no === 0) for (const [k, v] of metadata) if (k !== SPLIT.no && k !== SPLIT.count && k !== SPLIT.tensorsCount) md.set(k, v);
    md.set(SPLIT.no, { type: GGUFType.UINT16, value: no });
    md.set(SPLIT.tensorsCount, { type: GGUFType.INT32, value: tensors.length });
    md.set(SPLIT.count, { type: GGUFType.UINT16, value: count });
    const chunks = writeGGUF(md, group);
    // llama-gguf-split pads a metadata-only shard's header to the alignment, where a plain GGUF
    // without tensors ends right after it.
    const n = chunks.reduce((a, c) => a + c.byteLength, 0);
    if (group.length === 0 && n % SPLIT_PAD) chunks.push(new Uint8Array(SPLIT_PAD - (n % SPLIT_PAD)));
    return chunks;
  });
}

// Which files of a repo a reference means, from the repo's file list (the Hub's, or a cached
// snapshot's): a GGUF by quantization tag as llama.cpp's `-hf` picks it (all parts of a split
// file), or, in a repo without GGUFs, the files of a Hugging Face safetensors folder.

import { HubError } from './errors.js';
import { formatHubRef, type HubRef } from './ref.js';

export const DEFAULT_QUANT = 'Q4_K_M';
/** `model-00001-of-00003.gguf`: llama.cpp's gguf-split naming. */
const SPLIT = /-(\d{5})-of-(\d{5})\.gguf$/i;
/** Besides the weights, what a safetensors folder is loaded with (each only if the repo has it). */
export const FOLDER_EXTRAS = [
  'tokenizer.json', 'tokenizer_config.json', 'tokenizer.model', 'special_tokens_map.json',
  'generation_config.json', 'chat_template.jinja', 'chat_template.json',
];
export const SAFETENSORS_INDEX = 'model.safetensors.index.json';

export type Selection =
  | { kind: 'gguf'; files: string[]; main: string }
  /** `files` are what the listing says to fetch; shards come from the index once it is read. */
  | { kind: 'folder'; files: string[]; index?: string };

const isGGUF = (f: string) => /\.gguf$/i.test(f);
/** Projector files for vision models, never the language model itself. */
const isProjector = (f: string) => /(^|\/)mmproj[^/]*$/i.test(f);
const groupKey = (f: string) => f.replace(SPLIT, '.gguf');

/** Every part of a split GGUF, in order, checked against the `-of-N` count; a plain file alone. */
function parts(files: string[], first: string, ref: string): string[] {
  const m = SPLIT.exec(first);
  if (!m) return [first];
  const key = groupKey(first);
  const got = files.filter((f) => groupKey(f) === key && SPLIT.test(f)).sort();
  const n = Number(m[2]);
  const want = Array.from({ length: n }, (_, i) => first.replace(SPLIT, `-${String(i + 1).padStart(5, '0')}-of-${m[2]}.gguf`));
  const missing = want.filter((w) => !got.includes(w));
  if (missing.length) throw new HubError('E_HUB_REF', `${ref}: split GGUF ${key} is missing ${missing.join(', ')}`);
  return want;
}

function ggufSelection(files: string[], chosen: string, ref: string): Selection {
  const all = parts(files, chosen, ref);
  return { kind: 'gguf', files: all, main: all[0]! };
}

/** The tag inside a name, not as part of a longer token: `Q8_0` in `m-Q8_0.gguf` but not in `m-IQ8_0.gguf`. */
function boundedMatch(name: string, tag: string): boolean {
  const n = name.toLowerCase(), t = tag.toLowerCase();
  for (let i = n.indexOf(t); i >= 0; i = n.indexOf(t, i + 1)) {
    const before = i === 0 ? '' : n[i - 1]!, after = n[i + t.length] ?? '';
    if (!/[a-z0-9]/.test(before) && !/[a-z0-9_]/.test(after)) return true;
  }
  return false;
}

export function selectFiles(files: string[], r: HubRef): Selection {
  const ref = formatHubRef(r);
  if (r.file) {
    if (!files.includes(r.file)) throw new HubError('E_HUB_NOT_FOUND', `${ref}: the repo has no file ${r.file}${nearby(files)}`);
    return isGGUF(r.file) ? ggufSelection(files, r.file, ref) : { kind: 'gguf', files: [r.file], main: r.file };
  }
  const ggufs = files.filter((f) => isGGUF(f) && !isProjector(f));
  if (ggufs.length === 0) {
    if (r.quant) throw new HubError('E_HUB_REF', `${ref}: the repo has no GGUF files to pick ${r.quant} from${nearby(files)}`);
    return folderSelection(files, ref);
  }
  const tag = r.quant ?? DEFAULT_QUANT;
  const groups = (names: string[]) => [...new Set(names.map(groupKey))];
  let hits = ggufs.filter((f) => f.toLowerCase().includes(tag.toLowerCase()));
  // `Q4_K` is inside both `Q4_K_M` and `Q4_K_S`; a name holding the tag as a whole token wins.
  if (groups(hits).length > 1) {
    const exact = hits.filter((f) => boundedMatch(f, tag));
    if (groups(exact).length >= 1) hits = exact;
  }
  const hitGroups = groups(hits);
  if (hitGroups.length > 1) throw new HubError('E_HUB_REF', `${ref}: ${tag} matches ${hitGroups.length} files: ${hitGroups.join(', ')}; name one as hf:${r.repo}/FILE.gguf`);
  if (hitGroups.length === 1) return ggufSelection(files, hits.find((f) => !SPLIT.test(f) || /-00001-of-/.test(f)) ?? hits[0]!, ref);
  if (r.quant) throw new HubError('E_HUB_REF', `${ref}: no GGUF file matches ${r.quant}; the repo has ${groups(ggufs).join(', ')}`);
  // No tag given and no Q4_K_M: the first GGUF, as llama.cpp does.
  const first = ggufs.find((f) => !SPLIT.test(f) || /-00001-of-/.test(f)) ?? ggufs[0]!;
  return ggufSelection(files, first, ref);
}

function folderSelection(files: string[], ref: string): Selection {
  const top = new Set(files.filter((f) => !f.includes('/')));
  if (!top.has('config.json')) throw new HubError('E_HUB_REF', `${ref}: the repo has neither GGUF files nor a config.json${nearby(files)}`);
  const extras = FOLDER_EXTRAS.filter((f) => top.has(f));
  if (top.has(SAFETENSORS_INDEX)) return { kind: 'folder', files: ['config.json', ...extras, SAFETENSORS_INDEX], index: SAFETENSORS_INDEX };
  if (top.has('model.safetensors')) return { kind: 'folder', files: ['config.json', ...extras, 'model.safetensors'] };
  throw new HubError('E_HUB_REF', `${ref}: the repo has no GGUF files and no model.safetensors or ${SAFETENSORS_INDEX}${nearby(files)}`);
}

/** The shard files a model.safetensors.index.json names, checked to be plain top-level .safetensors names. */
export function indexShards(indexJson: string, ref: string): string[] {
  let j: unknown;
  try {
    j = JSON.parse(indexJson);
  } catch {
    throw new HubError('E_HUB_REF', `${ref}: ${SAFETENSORS_INDEX} is not valid JSON`);
  }
  const map = (j as { weight_map?: unknown })?.weight_map;
  if (!map || typeof map !== 'object') throw new HubError('E_HUB_REF', `${ref}: ${SAFETENSORS_INDEX} has no weight_map`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const s of shards) {
    if (typeof s !== 'string' || !/^[^/\\]+\.safetensors$/.test(s) || s.startsWith('.')) throw new HubError('E_HUB_REF', `${ref}: ${SAFETENSORS_INDEX} names shard ${JSON.stringify(s)}, not a .safetensors file beside it`);
  }
  return (shards as string[]).sort();
}

function nearby(files: string[]): string {
  if (files.length === 0) return ' (the repo is empty)';
  const shown = files.slice(0, 12).join(', ');
  return ` (it has ${shown}${files.length > 12 ? `, … ${files.length} files in all` : ''})`;
}

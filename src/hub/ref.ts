// `hf:OWNER/REPO[@REVISION][:QUANT | /PATH/FILE.gguf]`: the model references `lutra pull`, `run`,
// `serve` and `loadModel` accept. Parsing only; which file a reference picks is select.ts's job.

import { HubError } from './errors.js';

export interface HubRef {
  /** `owner/name` as the Hub spells it. */
  repo: string;
  /** Branch, tag or commit; `main` unless the reference says `@…`. */
  revision: string;
  /** A quantization tag such as `Q4_K_M`, matched against GGUF file names. */
  quant?: string;
  /** A file inside the repo, given explicitly. */
  file?: string;
}

export const HUB_PREFIX = 'hf:';
// The Hub's own rule for repo ids: letters, digits, '-', '_', '.'; no '--' or '..'; at most 96 characters.
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;
const REVISION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const QUANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SYNTAX = 'hf:OWNER/REPO[@REVISION][:QUANT | /FILE.gguf]';

export function isHubRef(s: string): boolean {
  return s.startsWith(HUB_PREFIX);
}

function bad(ref: string, why: string): HubError {
  return new HubError('E_HUB_REF', `${JSON.stringify(ref)} is not a Hugging Face reference: ${why} (expected ${SYNTAX})`);
}

export function parseHubRef(ref: string): HubRef {
  if (!isHubRef(ref)) throw bad(ref, `it does not start with ${HUB_PREFIX}`);
  const m = /^([^/@:]+)\/([^/@:]+)(?:@([^/:]+))?(?:(:)([^/]*)|\/(.*))?$/.exec(ref.slice(HUB_PREFIX.length));
  if (!m) throw bad(ref, 'no OWNER/REPO');
  const [, owner, name, revision, colon, quant, file] = m;
  for (const part of [owner!, name!]) {
    if (!NAME.test(part) || part.includes('--') || part.includes('..')) throw bad(ref, `${JSON.stringify(part)} is not a valid repo owner or name`);
  }
  if (revision !== undefined && !REVISION.test(revision)) throw bad(ref, `${JSON.stringify(revision)} is not a valid revision`);
  const out: HubRef = { repo: `${owner}/${name}`, revision: revision ?? 'main' };
  if (colon) {
    if (!QUANT.test(quant!)) throw bad(ref, `${JSON.stringify(quant)} is not a quantization tag`);
    out.quant = quant;
  }
  if (file !== undefined) {
    const segs = file.split('/');
    if (segs.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0'))) throw bad(ref, `${JSON.stringify(file)} is not a file path inside the repo`);
    out.file = file;
  }
  return out;
}

export function formatHubRef(r: HubRef): string {
  return `${HUB_PREFIX}${r.repo}${r.revision === 'main' ? '' : `@${r.revision}`}${r.quant ? `:${r.quant}` : ''}${r.file ? `/${r.file}` : ''}`;
}

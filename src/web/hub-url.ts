// `hf:OWNER/REPO[@REVISION][:QUANT|/FILE.gguf]` in a page: the download URL of the one GGUF file
// the reference means, chosen from the Hub's file list by the same rule `lutra pull` follows
// (hub/select.ts). The Hub answers browsers (CORS); split GGUFs and safetensors folders are for the
// CLI (`lutra pull`), not a page.

import { parseHubRef } from '../hub/ref.js';
import { selectFiles } from '../hub/select.js';
import { requestError } from './opfs-cache.js';

export const HUB_ENDPOINT = 'https://huggingface.co';

export async function hubModelUrl(ref: string, opts: { endpoint?: string; signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<string> {
  const r = parseHubRef(ref);
  const endpoint = (opts.endpoint ?? HUB_ENDPOINT).replace(/\/+$/, '');
  const api = `${endpoint}/api/models/${r.repo}/revision/${encodeURIComponent(r.revision)}`;
  let res: Response;
  try {
    res = await fetch(api, { signal: opts.signal, headers: opts.headers });
  } catch (e) {
    throw requestError('GET', api, e);
  }
  if (res.status === 401 || res.status === 403) throw new Error(`${ref}: GET ${api}: HTTP ${res.status}: the repo is gated or private (a page cannot send HF_TOKEN; use lutra pull)`);
  if (res.status === 404) throw new Error(`${ref}: GET ${api}: HTTP 404: no such repo or revision`);
  if (!res.ok) throw new Error(`${ref}: GET ${api}: HTTP ${res.status} ${res.statusText}`);
  const j = (await res.json()) as { siblings?: { rfilename?: unknown }[] };
  const files = (j.siblings ?? []).map((s) => s.rfilename).filter((f): f is string => typeof f === 'string');
  const sel = selectFiles(files, r);
  if (sel.kind !== 'gguf' || sel.files.length !== 1) {
    throw new Error(`${ref}: ${sel.kind === 'gguf' ? `${sel.main} is split into ${sel.files.length} files` : 'the repo has no GGUF file'}; the page loads one GGUF file (lutra pull ${ref} works from the CLI)`);
  }
  return `${endpoint}/${r.repo}/resolve/${encodeURIComponent(r.revision)}/${sel.main.split('/').map(encodeURIComponent).join('/')}`;
}

// `hf:OWNER/REPO[@REVISION][:QUANT|/FILE.gguf]` in a page: the download URLs of the GGUF the
// reference means (every shard, in order, for a split GGUF), chosen from the Hub's file list by the
// same rule `lutra pull` follows (hub/select.ts). The Hub answers browsers (CORS). A token for gated
// or private repos goes to the Hub endpoint's origin only (tokenHeaders); safetensors folders are
// for the CLI (`lutra pull`).

import { parseHubRef } from '../hub/ref.js';
import { selectFiles } from '../hub/select.js';
import { SHARD_NAME, shardSuffix } from '../formats/gguf-split.js';
import { requestError } from './opfs-cache.js';

export const HUB_ENDPOINT = 'https://huggingface.co';

export interface HubUrlOptions {
  /** The Hub to ask (default https://huggingface.co), as HF_ENDPOINT for the CLI. */
  endpoint?: string;
  /** A Hugging Face access token for gated or private repos, sent to `endpoint` only. */
  token?: string;
  signal?: AbortSignal;
}

/**
 * The Authorization header for a request to `url`: the token for the Hub endpoint's origin, nothing
 * for any other host (the Hub's CDN behind its redirects included: browsers drop the header on a
 * cross-origin redirect).
 */
export function tokenHeaders(url: string, opts: { endpoint?: string; token?: string }): Record<string, string> {
  if (!opts.token) return {};
  const base = (globalThis as { location?: { href: string } }).location?.href;
  return new URL(url, base).origin === new URL(opts.endpoint ?? HUB_ENDPOINT).origin ? { authorization: `Bearer ${opts.token}` } : {};
}

/** Every shard's URL from one shard's (`…-00002-of-00003.gguf[?query]`), or undefined for a file that is not named as a shard. */
export function shardUrls(url: string): string[] | undefined {
  const u = new URL(url, (globalThis as { location?: { href: string } }).location?.href);
  const m = SHARD_NAME.exec(u.pathname);
  if (!m) return undefined;
  const count = Number(m[2]);
  if (!(count > 1)) return undefined;
  const prefix = u.pathname.slice(0, u.pathname.length - m[0].length);
  return Array.from({ length: count }, (_, i) => {
    const v = new URL(u.href);
    v.pathname = `${prefix}${shardSuffix(i, count)}`;
    return v.href;
  });
}

/** What a 401/403 from the Hub means, with or without a token. */
export function accessHint(token: string | undefined): string {
  return token ? 'the token was refused, or it has no access to this gated or private repo (accept its terms on the Hub first)' : 'the repo is gated or private: give a Hugging Face access token';
}

export async function hubModelUrls(ref: string, opts: HubUrlOptions = {}): Promise<string[]> {
  const r = parseHubRef(ref);
  const endpoint = (opts.endpoint ?? HUB_ENDPOINT).replace(/\/+$/, '');
  const api = `${endpoint}/api/models/${r.repo}/revision/${encodeURIComponent(r.revision)}`;
  let res: Response;
  try {
    res = await fetch(api, { signal: opts.signal, headers: tokenHeaders(api, { endpoint, token: opts.token }) });
  } catch (e) {
    throw requestError('GET', api, e);
  }
  if (res.status === 401 || res.status === 403) throw new Error(`${ref}: GET ${api}: HTTP ${res.status}: ${accessHint(opts.token)}`);
  if (res.status === 404) throw new Error(`${ref}: GET ${api}: HTTP 404: no such repo or revision`);
  if (!res.ok) throw new Error(`${ref}: GET ${api}: HTTP ${res.status} ${res.statusText}`);
  const j = (await res.json()) as { siblings?: { rfilename?: unknown }[]; gated?: unknown };
  // The Hub lists a gated repo's files to anyone but serves them only with a token.
  if (j.gated && !opts.token) throw new Error(`${ref}: the repo is gated (${String(j.gated)}): give a Hugging Face access token with access to it`);
  const files = (j.siblings ?? []).map((s) => s.rfilename).filter((f): f is string => typeof f === 'string');
  const sel = selectFiles(files, r);
  if (sel.kind !== 'gguf') throw new Error(`${ref}: the repo has no GGUF file; the page loads GGUF files (lutra pull ${ref} gets its safetensors folder from the CLI)`);
  const url = (f: string) => `${endpoint}/${r.repo}/resolve/${encodeURIComponent(r.revision)}/${f.split('/').map(encodeURIComponent).join('/')}`;
  return sel.files.map(url);
}

// Models from the Hugging Face Hub: `hf:OWNER/REPO[:QUANT|/FILE.gguf]` to a local path (a GGUF file
// or a snapshot folder) through the Hub's own cache layout (cache.ts), so what huggingface_hub,
// transformers or llama.cpp downloaded is reused and the other way round. Node.js only; the
// runtime imports this module dynamically, and only for `hf:` inputs.

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AbortError } from '../core/errors.js';
import { RepoCache, cachedRepos, hfHome, hubCacheDir, isSafeRepoPath } from './cache.js';
import { fetchFile, fileMeta, statusError, authHeaders, type FetchContext, type HubProgress } from './download.js';
import { HubError } from './errors.js';
import { DEFAULT_BOUNDS, readBody, send, type HttpBounds } from './http.js';
import { formatHubRef, parseHubRef, type HubRef } from './ref.js';
import { DEFAULT_QUANT, indexShards, selectFiles, type Selection } from './select.js';

export { HubError } from './errors.js';
export { isHubRef, parseHubRef, formatHubRef, type HubRef } from './ref.js';
export { hubCacheDir } from './cache.js';
export type { HubProgress } from './download.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
/** Tries per file when the connection fails; each resumes where the last one stopped. */
export const DEFAULT_RETRIES = 2;
const MAX_LISTING_BYTES = 32 << 20;

export interface HubOptions {
  /** Default: HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Default: HF_TOKEN (or HUGGING_FACE_HUB_TOKEN / HF_HUB_TOKEN), else the token file `huggingface-cli login` wrote. */
  token?: string;
  /** Default: hubCacheDir() (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Only the cache, never the network. Default: HF_HUB_OFFLINE=1. */
  offline?: boolean;
  retries?: number;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: HubProgress) => void;
  /** Where the defaults above are read from (tests pass their own). */
  env?: NodeJS.ProcessEnv;
}

export interface PulledFile { path: string; size: number; cached: boolean }

export interface PullResult {
  ref: string;
  repo: string;
  revision: string;
  commit: string;
  kind: 'gguf' | 'folder';
  /** The GGUF file (its first part when split) or the snapshot folder. */
  path: string;
  files: PulledFile[];
}

interface Settings { endpoint: string; token?: string; cacheDir: string; offline: boolean; retries: number; bounds: HttpBounds }

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

function settings(o: HubOptions): Settings {
  const env = o.env ?? process.env;
  const endpoint = (o.endpoint ?? env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  let u: URL | undefined;
  try {
    u = new URL(endpoint);
  } catch { /* below */ }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw new HubError('E_HUB_REF', `HF_ENDPOINT ${JSON.stringify(endpoint)} is not an http(s) URL`);
  return {
    endpoint,
    token: o.token ?? (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || env.HF_HUB_TOKEN || tokenFile(env)),
    cacheDir: o.cacheDir ?? hubCacheDir(env),
    offline: o.offline ?? truthy(env.HF_HUB_OFFLINE),
    retries: o.retries ?? DEFAULT_RETRIES,
    bounds: { connectTimeoutMs: o.connectTimeoutMs ?? DEFAULT_BOUNDS.connectTimeoutMs, idleTimeoutMs: o.idleTimeoutMs ?? DEFAULT_BOUNDS.idleTimeoutMs, signal: o.signal },
  };
}

function tokenFile(env: NodeJS.ProcessEnv): string | undefined {
  try {
    return readFileSync(env.HF_TOKEN_PATH || join(hfHome(env), 'token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A local path for a reference: the cached copy when the cache holds it whole (no request at all),
 * else what pull() fetches. This is what `run`, `serve` and `loadModel('hf:…')` use.
 */
export async function resolveHubReference(ref: string, opts: HubOptions = {}): Promise<string> {
  const r = parseHubRef(ref);
  const s = settings(opts);
  const cached = await fromCache(r, new RepoCache(s.cacheDir, r.repo), s.offline);
  if (cached) return cached.path;
  if (s.offline) throw offlineMiss(r, s);
  return (await pullWith(r, s, opts.onProgress)).path;
}

/** Asks the Hub for the revision's current commit and makes the cache hold the reference's files (already cached blobs are linked, not fetched). */
export async function pull(ref: string, opts: HubOptions = {}): Promise<PullResult> {
  const r = parseHubRef(ref);
  const s = settings(opts);
  if (s.offline) {
    const cached = await fromCache(r, new RepoCache(s.cacheDir, r.repo), true);
    if (!cached) throw offlineMiss(r, s);
    return cached;
  }
  return pullWith(r, s, opts.onProgress);
}

function offlineMiss(r: HubRef, s: Settings): HubError {
  return new HubError('E_HUB_OFFLINE', `${formatHubRef(r)}: HF_HUB_OFFLINE is set and the cache (${new RepoCache(s.cacheDir, r.repo).dir}) does not hold it; run \`lutra pull ${formatHubRef(r)}\` while online`);
}

/** What the cache alone gives for a reference, or undefined when something is missing. */
async function fromCache(r: HubRef, cache: RepoCache, offline: boolean): Promise<PullResult | undefined> {
  const commit = cache.commitOf(r.revision);
  if (!commit) return undefined;
  const have = cache.snapshotFiles(commit);
  let sel: Selection;
  try {
    sel = selectFiles([...have.keys()], r);
  } catch {
    return undefined;
  }
  // Online, a bare reference means the Hub's Q4_K_M or its first GGUF, which the cache cannot
  // tell from its own first GGUF: only a cached Q4_K_M answers without asking.
  if (sel.kind === 'gguf' && !r.file && !r.quant && !offline && !sel.main.toLowerCase().includes(DEFAULT_QUANT.toLowerCase())) return undefined;
  const files = [...sel.files];
  if (sel.kind === 'folder' && sel.index) {
    try {
      files.push(...indexShards(await readFile(join(cache.snapshotDir(commit), sel.index), 'utf8'), formatHubRef(r)));
    } catch {
      return undefined;
    }
  }
  if (files.some((f) => !have.has(f))) return undefined;
  const dir = cache.snapshotDir(commit);
  return {
    ref: formatHubRef(r), repo: r.repo, revision: r.revision, commit, kind: sel.kind,
    path: sel.kind === 'gguf' ? join(dir, sel.main) : dir,
    files: files.map((f) => ({ path: f, size: have.get(f)!, cached: true })),
  };
}

async function listing(ctx: FetchContext, repo: string, revision: string): Promise<{ commit: string; files: string[] }> {
  const url = new URL(`${ctx.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`);
  const res = await send(url, 'GET', { accept: 'application/json', ...authHeaders(ctx.token, url, new URL(ctx.endpoint).origin) }, ctx.bounds);
  if (res.statusCode !== 200) throw await statusError(res, url, { ...ctx, repo, revision });
  const body = await readBody(res, url, MAX_LISTING_BYTES);
  let j: { sha?: unknown; siblings?: unknown };
  try {
    j = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HubError('E_HUB_HTTP', `${url.href}: the answer is not JSON; is ${ctx.endpoint} a Hugging Face Hub?`);
  }
  if (typeof j.sha !== 'string' || !/^[0-9a-f]{40}$/.test(j.sha) || !Array.isArray(j.siblings)) {
    throw new HubError('E_HUB_HTTP', `${url.href}: the answer has no commit sha or file list (siblings)`);
  }
  const files = j.siblings.map((x) => (x as { rfilename?: unknown })?.rfilename).filter((f): f is string => typeof f === 'string' && isSafeRepoPath(f));
  return { commit: j.sha, files };
}

async function pullWith(r: HubRef, s: Settings, onProgress?: (p: HubProgress) => void): Promise<PullResult> {
  const ref = formatHubRef(r);
  const cache = new RepoCache(s.cacheDir, r.repo);
  const ctx: FetchContext = { endpoint: s.endpoint, token: s.token, bounds: s.bounds, cache, ref, onProgress };
  const got: PulledFile[] = [];

  const fetchOne = async (commit: string, path: string): Promise<{ commit: string; local: string }> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const meta = await fileMeta(ctx, commit, path);
        const { path: local, cached } = await fetchFile(ctx, meta, meta.commit, path);
        got.push({ path, size: meta.size, cached });
        return { commit: meta.commit, local };
      } catch (e) {
        if (!(e instanceof HubError) || e.code !== 'E_HUB_NETWORK' || attempt >= s.retries || s.bounds.signal?.aborted) throw e;
        await new Promise((res) => setTimeout(res, 250 * 2 ** attempt));
      }
    }
  };

  let commit: string;
  let sel: Selection;
  if (r.file && !/-\d{5}-of-\d{5}\.gguf$/i.test(r.file)) {
    // One named file: its HEAD gives the commit; no listing needed.
    const one = await fetchOne(r.revision, r.file);
    commit = one.commit;
    sel = { kind: 'gguf', files: [r.file], main: r.file };
  } else {
    const list = await listing(ctx, r.repo, r.revision);
    commit = list.commit;
    sel = selectFiles(list.files, r);
    for (const f of sel.files) await fetchOne(commit, f);
    if (sel.kind === 'folder' && sel.index) {
      const shards = indexShards(await readFile(join(cache.snapshotDir(commit), sel.index), 'utf8'), ref);
      const missing = shards.filter((f) => !list.files.includes(f));
      if (missing.length) throw new HubError('E_HUB_REF', `${ref}: ${sel.index} names ${missing.join(', ')}, which the repo does not have`);
      for (const f of shards) await fetchOne(commit, f);
    }
  }
  if (s.bounds.signal?.aborted) throw new AbortError();
  await cache.writeRef(r.revision, commit);
  const dir = cache.snapshotDir(commit);
  return { ref, repo: r.repo, revision: r.revision, commit, kind: sel.kind, path: sel.kind === 'gguf' ? join(dir, sel.main) : dir, files: got };
}

export interface CachedSnapshot { commit: string; refs: string[]; files: { path: string; size: number }[] }
export interface CachedRepo { repo: string; dir: string; bytes: number; snapshots: CachedSnapshot[] }

/** Every repo in the cache with its snapshots, the refs pointing at them, and their files. */
export function listCache(opts: HubOptions = {}): CachedRepo[] {
  const cacheDir = opts.cacheDir ?? hubCacheDir(opts.env ?? process.env);
  return cachedRepos(cacheDir).map((repo) => {
    const c = new RepoCache(cacheDir, repo);
    const refs = c.refs();
    return {
      repo, dir: c.dir, bytes: c.blobBytes(),
      snapshots: c.snapshots().map((commit) => ({
        commit,
        refs: [...refs].filter(([, v]) => v === commit).map(([k]) => k),
        files: [...c.snapshotFiles(commit)].map(([path, size]) => ({ path, size })),
      })),
    };
  });
}

/** Deletes a repo's whole cache folder (every snapshot and blob). */
export async function removeCached(ref: string, opts: HubOptions = {}): Promise<{ repo: string; dir: string; bytes: number }> {
  const r = parseHubRef(ref);
  if (r.quant || r.file || r.revision !== 'main') throw new HubError('E_HUB_REF', `${ref}: rm removes a whole repo; give it as hf:${r.repo}`);
  const cacheDir = opts.cacheDir ?? hubCacheDir(opts.env ?? process.env);
  if (!cachedRepos(cacheDir).includes(r.repo)) throw new HubError('E_HUB_NOT_FOUND', `${ref}: not in the cache (${cacheDir})`);
  const c = new RepoCache(cacheDir, r.repo);
  const bytes = c.blobBytes();
  await c.remove();
  return { repo: r.repo, dir: c.dir, bytes };
}

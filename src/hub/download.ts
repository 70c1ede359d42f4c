// One repo file into the cache, as huggingface_hub does it: HEAD on /resolve/ (not followed) gives
// the commit, the etag and the size; a blob with that etag already present is linked without a
// byte moved; otherwise the file streams into blobs/<etag>.incomplete (resumed with Range when a
// previous try left one), is checked against the announced size and sha256, then renamed into place.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, stat, truncate, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname } from 'node:path';
import { once } from 'node:events';
import { AbortError } from '../core/errors.js';
import { acquireLock, cacheError, type RepoCache } from './cache.js';
import { HubError, describeCause } from './errors.js';
import { MAX_REDIRECTS, drain, header, readBody, send, type HttpBounds } from './http.js';

export type HubProgress =
  | { type: 'start'; file: string; total: number; resumedFrom: number }
  | { type: 'progress'; file: string; loaded: number; total: number }
  | { type: 'done'; file: string; total: number; downloaded: number; seconds: number; cached: boolean };

export interface FetchContext {
  endpoint: string;
  token?: string;
  bounds: HttpBounds;
  cache: RepoCache;
  /** For messages: `hf:owner/repo…`. */
  ref: string;
  onProgress?: (p: HubProgress) => void;
}

export interface FileMeta {
  commit: string;
  /** sha256 (LFS files) or git blob sha1 (others), lower-case hex, quotes stripped. */
  etag: string;
  size: number;
  /** Where the bytes are: the CDN URL of a 302, or the resolve URL itself. */
  location: URL;
}

export function resolveUrl(endpoint: string, repo: string, revision: string, path: string): URL {
  const enc = (s: string) => s.split('/').map(encodeURIComponent).join('/');
  return new URL(`${endpoint.replace(/\/+$/, '')}/${repo}/resolve/${encodeURIComponent(revision)}/${enc(path)}`);
}

export function authHeaders(token: string | undefined, url: URL, origin: string): Record<string, string> {
  // The token goes to the Hub only, never to the CDN host a redirect points at.
  return token && url.origin === origin ? { authorization: `Bearer ${token}` } : {};
}

const normalizeEtag = (v: string | undefined) => v?.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();

/** Turns a Hub error status into words: gated, private, missing repo / revision / file. */
export async function statusError(res: IncomingMessage, url: URL, ctx: { ref: string; repo: string; endpoint: string; token?: string; revision?: string; file?: string }): Promise<HubError> {
  const code = header(res, 'x-error-code');
  const msg = header(res, 'x-error-message');
  const status = res.statusCode ?? 0;
  let body = '';
  try {
    body = (await readBody(res, url, 4096)).toString('utf8');
  } catch { /* the status is enough */ }
  const detail = msg ?? (/^\s*\{/.test(body) ? String((JSON.parse(body) as { error?: unknown }).error ?? '') : '');
  const tail = `${url.href}: HTTP ${status}${code ? ` ${code}` : ''}${detail ? ` (${detail})` : ''}`;
  if (status === 401 || status === 403) {
    const why = code === 'GatedRepo' || /gated|restricted/i.test(detail)
      ? `${ctx.repo} is a gated repo: accept its terms at ${ctx.endpoint}/${ctx.repo}, then set HF_TOKEN to a token of that account`
      : ctx.token
        ? `the token in HF_TOKEN has no access to ${ctx.repo} (private or gated, or the name is wrong)`
        : `${ctx.repo} is private or gated, or does not exist: set HF_TOKEN to a token with access`;
    return new HubError('E_HUB_AUTH', `${ctx.ref}: ${why}; ${tail}`);
  }
  if (status === 404) {
    const what = code === 'RevisionNotFound' ? `no revision ${JSON.stringify(ctx.revision ?? '?')} in ${ctx.repo}`
      : code === 'EntryNotFound' ? `${ctx.repo} has no file ${ctx.file ?? '?'}`
      : `repo ${ctx.repo} not found on ${ctx.endpoint}`;
    return new HubError('E_HUB_NOT_FOUND', `${ctx.ref}: ${what}; ${tail}`);
  }
  return new HubError('E_HUB_HTTP', `${ctx.ref}: ${tail}`);
}

/** HEAD /resolve/: the file's commit, etag, size and where its bytes are, without downloading them. */
export async function fileMeta(ctx: FetchContext, revision: string, path: string): Promise<FileMeta> {
  const origin = new URL(ctx.endpoint).origin;
  let url = resolveUrl(ctx.endpoint, ctx.cache.repo, revision, path);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await send(url, 'HEAD', { 'accept-encoding': 'identity', ...authHeaders(ctx.token, url, origin) }, ctx.bounds);
    drain(res);
    const status = res.statusCode ?? 0;
    const location = header(res, 'location');
    const linked = header(res, 'x-linked-etag');
    if (status >= 300 && status < 400 && location && !linked && !header(res, 'x-repo-commit')) {
      url = new URL(location, url); // a renamed repo: the Hub points at its new name
      continue;
    }
    if (status >= 400 || (status >= 300 && !location)) throw await statusError(res, url, { ...ctx, repo: ctx.cache.repo, revision, file: path });
    const commit = header(res, 'x-repo-commit');
    const etag = normalizeEtag(linked ?? header(res, 'etag'));
    const size = Number(header(res, 'x-linked-size') ?? header(res, 'content-length'));
    if (!commit || !/^[0-9a-f]{40}$/.test(commit)) throw new HubError('E_HUB_HTTP', `${url.href}: no X-Repo-Commit header in the answer; is ${ctx.endpoint} a Hugging Face Hub?`);
    if (!etag || !/^[0-9a-z_-]{1,128}$/.test(etag)) throw new HubError('E_HUB_HTTP', `${url.href}: no usable ETag in the answer (${JSON.stringify(etag ?? null)})`);
    if (!Number.isSafeInteger(size) || size < 0) throw new HubError('E_HUB_HTTP', `${url.href}: no file size (X-Linked-Size / Content-Length) in the answer`);
    return { commit, etag, size, location: location ? new URL(location, url) : url };
  }
  throw new HubError('E_HUB_NETWORK', `${resolveUrl(ctx.endpoint, ctx.cache.repo, revision, path).href}: more than ${MAX_REDIRECTS} redirects`);
}

/** The checksum an etag promises: sha256 of the bytes (LFS), or git's blob sha1 (`blob <size>\0` + bytes). */
function checksumFor(etag: string, size: number): { hash: Hash; kind: string } | undefined {
  if (/^[0-9a-f]{64}$/.test(etag)) return { hash: createHash('sha256'), kind: 'sha256' };
  if (/^[0-9a-f]{40}$/.test(etag)) {
    const hash = createHash('sha1');
    hash.update(`blob ${size}\0`);
    return { hash, kind: 'git sha1' };
  }
  return undefined;
}

/**
 * Makes snapshots/<commit>/<path> hold the file, downloading it only when blobs/ lacks it.
 * Returns the snapshot path and whether it was already there.
 */
export async function fetchFile(ctx: FetchContext, meta: FileMeta, commit: string, path: string): Promise<{ path: string; cached: boolean }> {
  const { cache } = ctx;
  const blob = cache.blobPath(meta.etag);
  const t0 = performance.now();
  const have = await stat(blob).catch(() => undefined);
  if (have && have.size === meta.size) {
    ctx.onProgress?.({ type: 'done', file: path, total: meta.size, downloaded: 0, seconds: 0, cached: true });
    return { path: await cache.link(commit, path, meta.etag), cached: true };
  }
  await mkdir(dirname(blob), { recursive: true }).catch((e) => { throw cacheError(dirname(blob), e); });
  const release = await acquireLock(cache.cacheDir, cache.repo, meta.etag, `${ctx.ref} ${path}`);
  try {
    const downloaded = await download(ctx, meta, path, blob);
    ctx.onProgress?.({ type: 'done', file: path, total: meta.size, downloaded, seconds: (performance.now() - t0) / 1000, cached: false });
  } finally {
    await release();
  }
  return { path: await cache.link(commit, path, meta.etag), cached: false };
}

async function download(ctx: FetchContext, meta: FileMeta, path: string, blob: string): Promise<number> {
  const partial = `${blob}.incomplete`;
  const origin = new URL(ctx.endpoint).origin;
  let offset = (await stat(partial).catch(() => undefined))?.size ?? 0;
  if (offset > meta.size) {
    await unlink(partial);
    offset = 0;
  }
  let url = meta.location;
  let res: IncomingMessage | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = { 'accept-encoding': 'identity', ...authHeaders(ctx.token, url, origin) };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const r = await send(url, 'GET', headers, ctx.bounds);
    const status = r.statusCode ?? 0;
    const location = header(r, 'location');
    if (status >= 300 && status < 400 && location) {
      drain(r);
      url = new URL(location, url);
      continue;
    }
    if (status === 416 && offset === meta.size) {
      drain(r); // the partial already holds every byte: only the check is left
    } else if (status !== 200 && status !== 206) {
      throw await statusError(r, url, { ...ctx, repo: ctx.cache.repo, file: path });
    }
    res = r;
    break;
  }
  if (!res) throw new HubError('E_HUB_NETWORK', `${meta.location.href}: more than ${MAX_REDIRECTS} redirects`);
  const status = res.statusCode ?? 0;
  if (status === 206) {
    const m = /^bytes (\d+)-/.exec(header(res, 'content-range') ?? '');
    if (!m || Number(m[1]) !== offset) {
      drain(res);
      throw new HubError('E_HUB_HTTP', `${url.href}: asked for bytes from ${offset}, got Content-Range ${JSON.stringify(header(res, 'content-range') ?? null)}`);
    }
  } else if (status === 200 && offset > 0) {
    await truncate(partial, 0); // the server ignored Range: start over
    offset = 0;
  }
  const length = header(res, 'content-length');
  if (status !== 416 && length !== undefined && offset + Number(length) !== meta.size) {
    drain(res);
    throw new HubError('E_HUB_INTEGRITY', `${ctx.ref} ${path}: ${url.href} sends ${offset + Number(length)} bytes, the Hub announced ${meta.size}`);
  }

  const check = checksumFor(meta.etag, meta.size);
  if (check && offset > 0) {
    for await (const chunk of createReadStream(partial)) check.hash.update(chunk as Buffer);
  }
  ctx.onProgress?.({ type: 'start', file: path, total: meta.size, resumedFrom: offset });
  let loaded = offset;
  if (status !== 416) {
    const out = createWriteStream(partial, { flags: offset > 0 ? 'a' : 'w' });
    const outError = new Promise<never>((_, reject) => out.once('error', (e) => reject(cacheError(partial, e))));
    outError.catch(() => {});
    try {
      for await (const chunk of res) {
        const b = chunk as Buffer;
        loaded += b.length;
        if (loaded > meta.size) throw new HubError('E_HUB_INTEGRITY', `${ctx.ref} ${path}: ${url.href} sent more than the ${meta.size} bytes the Hub announced`);
        check?.hash.update(b);
        if (!out.write(b)) await Promise.race([once(out, 'drain'), outError]);
        ctx.onProgress?.({ type: 'progress', file: path, loaded, total: meta.size });
      }
    } catch (e) {
      res.destroy();
      out.end();
      await Promise.race([once(out, 'close'), outError]).catch(() => {});
      if (e instanceof HubError) {
        if (e.code === 'E_HUB_INTEGRITY') await unlink(partial).catch(() => {});
        throw e;
      }
      if (ctx.bounds.signal?.aborted) throw new AbortError(`download of ${path} interrupted; run again to resume from ${loaded} bytes`);
      throw new HubError('E_HUB_NETWORK', `${ctx.ref} ${path}: ${url.href}: connection lost after ${loaded} of ${meta.size} bytes (${describeCause(e)}); the ${loaded} bytes are kept and the next try resumes from there`, { cause: e });
    }
    out.end();
    await Promise.race([once(out, 'close'), outError]);
  }
  if (loaded !== meta.size) {
    throw new HubError('E_HUB_NETWORK', `${ctx.ref} ${path}: ${url.href} ended after ${loaded} of ${meta.size} bytes; the next try resumes from there`);
  }
  if (check) {
    const actual = check.hash.digest('hex');
    if (actual !== meta.etag) {
      await unlink(partial).catch(() => {});
      throw new HubError('E_HUB_INTEGRITY', `${ctx.ref} ${path}: ${check.kind} mismatch, expected ${meta.etag} (the Hub's etag), got ${actual}; the download was deleted`);
    }
  }
  await rename(partial, blob).catch((e) => { throw cacheError(blob, e); });
  return loaded - offset;
}

// A stand-in for the Hugging Face Hub on 127.0.0.1, for test/hub.test.ts: the model-info API,
// /resolve/ with the Hub's headers (X-Repo-Commit, X-Linked-Etag, X-Linked-Size, ETag) and a 302
// to a second server playing the CDN for LFS files, Range requests answered with 206, 404s and
// 401s carrying X-Error-Code, and faults on demand (a connection cut mid-file, a wrong etag).
// CORS as the Hub gives pages (test/browser-e2e.test.ts loads from it in chromium). Every request
// is recorded so tests can count them.

import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  data: Uint8Array;
  /** Stored with Git LFS: served by the CDN behind a 302 (default: .gguf and .safetensors). */
  lfs?: boolean;
  /** An etag the Hub announces instead of the true one. */
  wrongEtag?: string;
  /** A size the Hub announces instead of the true one. */
  wrongSize?: number;
  /** Cut the CDN connection after this many bytes, once. */
  cutAt?: number;
}
export interface FakeRepo { commit: string; files: Map<string, FakeFile>; gated?: boolean }
export interface SeenRequest { server: 'hub' | 'cdn'; method: string; url: string; range?: string; auth?: string }

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const commitOf = (s: string) => createHash('sha1').update(s).digest('hex');
export const TOKEN = 'hf_test_token';

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  readonly requests: SeenRequest[] = [];
  private hub?: http.Server;
  private cdn?: http.Server;
  url = '';
  cdnUrl = '';

  addRepo(repo: string, files: Record<string, Uint8Array | FakeFile>, opts: { gated?: boolean } = {}): FakeRepo {
    const r: FakeRepo = { commit: commitOf(repo + Object.keys(files).join()), files: new Map(), gated: opts.gated };
    for (const [k, v] of Object.entries(files)) r.files.set(k, v instanceof Uint8Array ? { data: v } : v);
    this.repos.set(repo, r);
    return r;
  }

  async start(): Promise<void> {
    this.hub = http.createServer((req, res) => this.onHub(req, res));
    this.cdn = http.createServer((req, res) => this.onCdn(req, res));
    for (const s of [this.hub, this.cdn]) await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
    this.url = `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
    this.cdnUrl = `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise((ok) => s.close(ok));
    }
  }

  count(pred: (r: SeenRequest) => boolean = () => true): number {
    return this.requests.filter(pred).length;
  }

  private record(server: 'hub' | 'cdn', req: http.IncomingMessage): void {
    this.requests.push({ server, method: req.method ?? '', url: req.url ?? '', range: req.headers.range, auth: req.headers.authorization });
  }

  private static error(res: http.ServerResponse, status: number, code: string, message: string): void {
    res.writeHead(status, { 'content-type': 'application/json', 'x-error-code': code, 'x-error-message': message });
    res.end(JSON.stringify({ error: message }));
  }

  /**
   * CORS as the Hub answers pages: any origin, the Authorization header allowed (preflight), the
   * integrity headers exposed. The CDN answers `*` too: after a cross-origin redirect the browser
   * sends Origin: null (and no Authorization).
   */
  private static cors(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-expose-headers', 'etag, x-linked-etag, x-linked-size, x-repo-commit, x-error-code, x-error-message, content-range');
    if (req.method !== 'OPTIONS') return false;
    res.writeHead(204, { 'access-control-allow-headers': 'authorization, range', 'access-control-allow-methods': 'GET, HEAD', 'access-control-max-age': '600' }).end();
    return true;
  }

  private onHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('hub', req);
    if (FakeHub.cors(req, res)) return;
    const u = new URL(req.url ?? '/', this.url);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(u.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(u.pathname);
    const repoId = decodeURIComponent((api ?? resolve)?.[1] ?? '');
    const repo = this.repos.get(repoId);
    if (!api && !resolve) return FakeHub.error(res, 404, 'EntryNotFound', 'not a Hub URL');
    if (!repo) return FakeHub.error(res, 404, 'RepoNotFound', `Repository Not Found for url: ${u.href}.`);
    const rev = decodeURIComponent((api ?? resolve)![2]!);
    if (rev !== 'main' && rev !== repo.commit) return FakeHub.error(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    if (api) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: repoId, sha: repo.commit, gated: repo.gated ? 'manual' : false, siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })) }));
      return;
    }
    if (repo.gated && req.headers.authorization !== `Bearer ${TOKEN}`) {
      return FakeHub.error(res, 401, 'GatedRepo', `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
    }
    const path = resolve![3]!.split('/').map(decodeURIComponent).join('/');
    const f = repo.files.get(path);
    if (!f) return FakeHub.error(res, 404, 'EntryNotFound', `${path} does not exist on "${rev}"`);
    const lfs = f.lfs ?? /\.(gguf|safetensors)$/.test(path);
    if (lfs) {
      const etag = f.wrongEtag ?? sha256(f.data);
      res.writeHead(302, {
        location: `${this.cdnUrl}/cdn/${encodeURIComponent(repoId)}/${encodeURIComponent(path)}?sig=x`,
        'x-repo-commit': repo.commit, 'x-linked-etag': `"${etag}"`, 'x-linked-size': String(f.wrongSize ?? f.data.length),
        etag: `"${gitSha1(new TextEncoder().encode(`oid sha256:${etag}`))}"`, 'content-length': '0',
      });
      res.end();
      return;
    }
    res.writeHead(200, { 'x-repo-commit': repo.commit, etag: `"${gitSha1(f.data)}"`, 'content-length': String(f.data.length) });
    res.end(req.method === 'HEAD' ? undefined : f.data);
  }

  private onCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('cdn', req);
    if (FakeHub.cors(req, res)) return;
    const m = /^\/cdn\/([^/]+)\/([^/?]+)/.exec(req.url ?? '');
    const f = m ? this.repos.get(decodeURIComponent(m[1]!))?.files.get(decodeURIComponent(m[2]!)) : undefined;
    if (!f) { res.writeHead(404); res.end(); return; }
    const size = f.data.length;
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= size) { res.writeHead(416, { 'content-range': `bytes */${size}` }); res.end(); return; }
      res.writeHead(206, { 'content-range': `bytes ${start}-${size - 1}/${size}`, 'content-length': String(size - start), 'accept-ranges': 'bytes' });
    } else {
      // The CDN's own ETag (a page sees only the final response of a redirect, not X-Linked-Etag).
      res.writeHead(200, { 'content-length': String(size), 'accept-ranges': 'bytes', etag: `"${sha256(f.data)}"` });
    }
    if (req.method === 'HEAD') { res.end(); return; }
    const cut = f.cutAt;
    if (cut !== undefined && cut > start) {
      f.cutAt = undefined;
      res.write(f.data.subarray(start, cut), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    res.end(f.data.subarray(start));
  }
}

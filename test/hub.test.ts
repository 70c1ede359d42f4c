// `lutra pull/ls/rm` and `hf:` references end to end against a stand-in Hub on 127.0.0.1
// (test/hub-server.ts): quant-tag choice, the Hugging Face cache layout on disk, reuse of files
// another tool cached, resume after a cut connection, integrity, gated / missing repos, offline
// mode, and `run` / `loadModel` on what was pulled. No request leaves the machine.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FakeHub, TOKEN, commitOf, gitSha1, sha256 } from './hub-server.js';
import { LUTRA_BIN, STORIES_GGUF } from './helpers.js';
import { parseHubRef } from '../src/hub/ref.js';
import { selectFiles } from '../src/hub/select.js';
import { pull, resolveHubReference, HubError } from '../src/hub/index.js';
import { loadModel } from '../src/runtime/model.js';
import { concatChunks, parseGGUF } from '../src/formats/gguf.js';
import { shardSuffix, splitGGUF } from '../src/formats/gguf-split.js';
import { exportHFFolder } from '../src/formats/hf-export.js';
import { stderrProgress } from '../src/cli/hub.js';

const GGUF = new Uint8Array(readFileSync(STORIES_GGUF));
const PROMPT = ['-p', 'Once upon a time', '--temp', '0', '-n', '16', '--backend', 'ref'];
const hub = new FakeHub();
const dirs: string[] = [];
let hfFolder: Record<string, Uint8Array> = {};

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'lutra-hub-'));
  dirs.push(d);
  return d;
}

/** The environment a test's CLI runs in: its own cache, the stand-in Hub, no token, online. */
function hubEnv(cache: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(HF_|HUGGING_FACE_)/.test(k)) env[k] = v;
  return { ...env, HF_HUB_CACHE: cache, HF_HOME: join(cache, 'home'), HF_ENDPOINT: hub.url, ...extra };
}

/** The CLI as a child process; spawned asynchronously so this process's stand-in Hub keeps answering. */
function lutra(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const p = spawn(process.execPath, [LUTRA_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill(), 120_000);
    p.on('error', fail);
    p.on('close', (code) => { clearTimeout(t); ok({ code: code ?? -1, stdout, stderr }); });
  });
}

const repoDir = (cache: string, repo: string) => join(cache, `models--${repo.replace('/', '--')}`);

before(async () => {
  await hub.start();
  hub.addRepo('test/stories', { 'README.md': new TextEncoder().encode('# stories\n'), 'stories-Q4_K_M.gguf': GGUF, 'stories-Q8_0.gguf': GGUF });
  const out = tempDir();
  await exportHFFolder(parseGGUF(GGUF, STORIES_GGUF), out);
  hfFolder = Object.fromEntries(readdirSync(out).map((f) => [f, new Uint8Array(readFileSync(join(out, f)))]));
  hub.addRepo('test/stories-hf', { ...hfFolder, 'README.md': new TextEncoder().encode('# safetensors\n') });
});
after(async () => {
  await hub.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('parseHubRef: owner/repo, revision, quant tag, file; bad references named', () => {
  assert.deepEqual(parseHubRef('hf:o/r'), { repo: 'o/r', revision: 'main' });
  assert.deepEqual(parseHubRef('hf:o/r:q8_0'), { repo: 'o/r', revision: 'main', quant: 'q8_0' });
  assert.deepEqual(parseHubRef('hf:o/r@v1.0/sub/m.gguf'), { repo: 'o/r', revision: 'v1.0', file: 'sub/m.gguf' });
  for (const bad of ['hf:o', 'hf:o/r/../x.gguf', 'hf:o--x/r', 'hf:../r', 'hf:o/r:', 'hf:/o/r']) {
    assert.throws(() => parseHubRef(bad), (e: HubError) => e.code === 'E_HUB_REF' && e.message.includes(JSON.stringify(bad)), bad);
  }
});

test('selectFiles: quant tags as llama.cpp -hf picks them, split GGUFs, safetensors folders', () => {
  const r = (s: string) => parseHubRef(s);
  const files = ['README.md', 'm-Q4_K_M.gguf', 'm-Q4_K_S.gguf', 'm-Q8_0.gguf', 'm-IQ4_XS.gguf', 'mmproj-m-f16.gguf'];
  assert.equal((selectFiles(files, r('hf:o/r')) as { main: string }).main, 'm-Q4_K_M.gguf');
  assert.equal((selectFiles(files, r('hf:o/r:q8_0')) as { main: string }).main, 'm-Q8_0.gguf');
  assert.throws(() => selectFiles(files, r('hf:o/r:Q4_K')), /Q4_K matches 2 files: m-Q4_K_M.gguf, m-Q4_K_S.gguf/);
  assert.throws(() => selectFiles(files, r('hf:o/r:Q5_K_M')), /no GGUF file matches Q5_K_M; the repo has m-Q4_K_M.gguf/);
  assert.equal((selectFiles(['b-F16.gguf', 'a-Q8_0.gguf'], r('hf:o/r')) as { main: string }).main, 'b-F16.gguf', 'no Q4_K_M: the first GGUF');
  const split = ['Q4_K_M/m-Q4_K_M-00002-of-00002.gguf', 'Q4_K_M/m-Q4_K_M-00001-of-00002.gguf', 'm-Q8_0.gguf'];
  assert.deepEqual(selectFiles(split, r('hf:o/r')), { kind: 'gguf', files: ['Q4_K_M/m-Q4_K_M-00001-of-00002.gguf', 'Q4_K_M/m-Q4_K_M-00002-of-00002.gguf'], main: 'Q4_K_M/m-Q4_K_M-00001-of-00002.gguf' });
  assert.throws(() => selectFiles(split.slice(1), r('hf:o/r')), /missing Q4_K_M\/m-Q4_K_M-00002-of-00002.gguf/);
  assert.deepEqual(selectFiles(['config.json', 'tokenizer.json', 'model.safetensors', 'x.bin'], r('hf:o/r')), { kind: 'folder', files: ['config.json', 'tokenizer.json', 'model.safetensors'] });
  assert.throws(() => selectFiles(['README.md'], r('hf:o/r')), /neither GGUF files nor a config.json \(it has README.md\)/);
});

test('pull hf:test/stories:Q8_0: the file lands in the Hugging Face cache layout; run on it equals run on the file', async () => {
  const cache = tempDir();
  const env = hubEnv(cache);
  const r = await lutra(['pull', 'hf:test/stories:Q8_0'], env);
  assert.equal(r.code, 0, r.stderr);
  const commit = hub.repos.get('test/stories')!.commit;
  const dir = repoDir(cache, 'test/stories');
  const snap = join(dir, 'snapshots', commit, 'stories-Q8_0.gguf');
  assert.equal(r.stdout.trim(), snap);
  assert.match(r.stderr, /lutra: stories-Q8_0\.gguf: .* in .* s/, 'a line per file when stderr is not a terminal');
  assert.equal(readFileSync(join(dir, 'refs', 'main'), 'utf8'), commit);
  assert.ok(lstatSync(snap).isSymbolicLink());
  assert.equal(readlinkSync(snap), `../../blobs/${sha256(GGUF)}`, 'a relative link into blobs/');
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'blobs', sha256(GGUF)))), GGUF);
  assert.deepEqual(readdirSync(join(dir, 'blobs')), [sha256(GGUF)], 'no .incomplete left');
  assert.equal(hub.count((q) => q.server === 'cdn' && q.auth !== undefined), 0, 'no token to the CDN');

  const viaHub = await lutra(['run', 'hf:test/stories:Q8_0', ...PROMPT], env);
  const direct = await lutra(['run', STORIES_GGUF, ...PROMPT], env);
  assert.equal(viaHub.code, 0, viaHub.stderr);
  assert.equal(direct.code, 0, direct.stderr);
  assert.ok(viaHub.stdout.length > 'Once upon a time'.length);
  assert.equal(viaHub.stdout, direct.stdout);
});

test('a bare reference picks Q4_K_M; a second pull moves no bytes; ls lists it; rm removes it', async () => {
  const cache = tempDir();
  const env = hubEnv(cache);
  assert.equal((await lutra(['pull', 'hf:test/stories'], env)).code, 0);
  const before = hub.requests.length;
  const again = await lutra(['pull', 'hf:test/stories:Q8_0'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /stories-Q8_0\.gguf: .*in the cache/, 'same bytes: the blob is shared');
  assert.equal(hub.requests.slice(before).filter((q) => q.method === 'GET' && q.url.includes('/resolve/') || q.server === 'cdn').length, 0);
  const ls = await lutra(['ls'], env);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^hf:test\/stories {2}\d/m);
  assert.match(ls.stdout, new RegExp(`main {2}${hub.repos.get('test/stories')!.commit.slice(0, 12)} {2}2 files`));
  assert.match(ls.stdout, /stories-Q4_K_M\.gguf {2}1\.\d+ MB/);
  assert.match(ls.stdout, /stories-Q8_0\.gguf/);
  const rm = await lutra(['rm', 'hf:test/stories'], env);
  assert.equal(rm.code, 0, rm.stderr);
  assert.ok(!existsSync(repoDir(cache, 'test/stories')));
  assert.match((await lutra(['ls'], env)).stdout, /^no models in /);
  const rm2 = await lutra(['rm', 'hf:test/stories'], env);
  assert.equal(rm2.code, 1);
  assert.match(rm2.stderr, /hf:test\/stories: not in the cache/);
});

test('a safetensors repo: config, tokenizer and weights pulled as a snapshot folder that loadModel("hf:…") runs', async () => {
  const cache = tempDir();
  const env = hubEnv(cache);
  const path = await resolveHubReference('hf:test/stories-hf', { env });
  const commit = hub.repos.get('test/stories-hf')!.commit;
  assert.equal(path, join(repoDir(cache, 'test/stories-hf'), 'snapshots', commit));
  assert.deepEqual(readdirSync(path).sort(), Object.keys(hfFolder).sort(), 'README.md is not fetched');
  const config = hfFolder['config.json']!;
  assert.equal(readlinkSync(join(path, 'config.json')), `../../blobs/${gitSha1(config)}`, 'a regular file is named by its git sha1');

  const saved = { ...process.env };
  Object.assign(process.env, { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: '1' });
  try {
    const viaHub = await loadModel('hf:test/stories-hf', { backend: 'ref' });
    const direct = await loadModel(STORIES_GGUF, { backend: 'ref' });
    try {
      assert.equal(viaHub.file, path);
      const opts = { maxTokens: 16, temperature: 0 };
      assert.equal(await viaHub.complete('Once upon a time', opts), await direct.complete('Once upon a time', opts));
    } finally {
      viaHub.dispose();
      direct.dispose();
    }
  } finally {
    for (const k of ['HF_HUB_CACHE', 'HF_ENDPOINT', 'HF_HUB_OFFLINE']) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
  }
});

test('a sharded safetensors repo: the index and every shard it names', async () => {
  const st = hfFolder['model.safetensors']!;
  const headerLen = Number(new DataView(st.buffer, st.byteOffset).getBigUint64(0, true));
  const names = Object.keys(JSON.parse(new TextDecoder().decode(st.subarray(8, 8 + headerLen)))).filter((k) => k !== '__metadata__');
  const shard = 'model-00001-of-00001.safetensors';
  const index = new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: Object.fromEntries(names.map((n) => [n, shard])) }));
  const { 'model.safetensors': _, ...rest } = hfFolder;
  hub.addRepo('test/sharded', { ...rest, 'model.safetensors.index.json': index, [shard]: st });
  const cache = tempDir();
  const r = await pull('hf:test/sharded', { env: hubEnv(cache) });
  assert.equal(r.kind, 'folder');
  assert.deepEqual(r.files.map((f) => f.path).sort(), [...Object.keys(rest), 'model.safetensors.index.json', shard].sort());
  const m = await loadModel(r.path, { backend: 'ref' });
  m.dispose();
});

test('split GGUF: every shard is downloaded, the path is the first shard, and run / loadModel load it as one model', async () => {
  const model = parseGGUF(GGUF, STORIES_GGUF);
  const shards = splitGGUF(model.metadata, model.tensors, { maxTensors: 20 }).map(concatChunks);
  hub.addRepo('test/split', Object.fromEntries(shards.map((b, i) => [`m-Q4_K_M${shardSuffix(i, 3)}`, b])));
  const cache = tempDir();
  const env = hubEnv(cache);
  const r = await pull('hf:test/split:Q4_K_M', { env });
  assert.ok(r.path.endsWith('/m-Q4_K_M-00001-of-00003.gguf'));
  assert.deepEqual(r.files.map((f) => f.path), [1, 2, 3].map((i) => `m-Q4_K_M-0000${i}-of-00003.gguf`));
  assert.equal(statSync(r.path.replace('00001-of', '00003-of')).size, shards[2]!.length);
  // Pulled by the CLI into a fresh cache, then run by reference and by a shard's path.
  const cli = tempDir();
  const viaHub = await lutra(['run', 'hf:test/split/m-Q4_K_M-00002-of-00003.gguf', ...PROMPT], hubEnv(cli));
  const direct = await lutra(['run', STORIES_GGUF, ...PROMPT], env);
  assert.equal(viaHub.code, 0, viaHub.stderr);
  assert.ok(direct.stdout.length > 'Once upon a time'.length);
  assert.equal(viaHub.stdout, direct.stdout);
  // loadModel('hf:…') from the cache the first pull filled, offline.
  const saved = { ...process.env };
  Object.assign(process.env, { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: '1' });
  try {
    const m = await loadModel('hf:test/split:Q4_K_M', { backend: 'ref' });
    try {
      assert.equal(m.file, r.path);
      assert.equal(m.source.tensors.length, model.tensors.length);
      assert.equal('Once upon a time' + (await m.complete('Once upon a time', { maxTokens: 16, temperature: 0 })), direct.stdout.trimEnd());
    } finally {
      m.dispose();
    }
  } finally {
    for (const k of ['HF_HUB_CACHE', 'HF_ENDPOINT', 'HF_HUB_OFFLINE']) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
  }
});

test('a cut connection: the partial stays in blobs/ as .incomplete and the next pull resumes it with Range', async () => {
  const cut = Math.floor(GGUF.length / 3);
  hub.addRepo('test/flaky', { 'flaky-Q8_0.gguf': { data: GGUF, cutAt: cut } });
  const cache = tempDir();
  const env = hubEnv(cache);
  const first = await lutra(['pull', 'hf:test/flaky', '--retries', '0'], env);
  assert.equal(first.code, 1);
  assert.match(first.stderr, /hf:test\/flaky flaky-Q8_0\.gguf: http:\/\/127\.0\.0\.1:\d+\/cdn\/.*: connection lost after \d+ of \d+ bytes \((ECONNRESET|aborted)/);
  const partial = join(repoDir(cache, 'test/flaky'), 'blobs', `${sha256(GGUF)}.incomplete`);
  const kept = statSync(partial).size;
  assert.ok(kept > 0 && kept <= cut, `kept ${kept} bytes`);
  assert.ok(!existsSync(join(repoDir(cache, 'test/flaky'), 'snapshots')), 'nothing in snapshots');
  const second = await lutra(['pull', 'hf:test/flaky'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.ok(hub.requests.some((q) => q.server === 'cdn' && q.url.includes('flaky') && q.range === `bytes=${kept}-`), 'resumed with Range');
  assert.deepEqual(new Uint8Array(readFileSync(second.stdout.trim())), GGUF);
  assert.ok(!existsSync(partial));
});

test('a cut connection is retried within one pull (default --retries), resuming with Range', async () => {
  hub.addRepo('test/flaky2', { 'f-Q8_0.gguf': { data: GGUF, cutAt: 100_000 } });
  const cache = tempDir();
  const r = await pull('hf:test/flaky2', { env: hubEnv(cache) });
  assert.deepEqual(new Uint8Array(readFileSync(r.path)), GGUF);
  assert.ok(hub.requests.some((q) => q.server === 'cdn' && q.url.includes('flaky2') && q.range?.startsWith('bytes=')));
});

test('an etag that does not match the bytes: error naming file, expected and actual; nothing in snapshots or blobs', async () => {
  const wrong = 'ab'.repeat(32);
  hub.addRepo('test/corrupt', { 'c-Q8_0.gguf': { data: GGUF, wrongEtag: wrong } });
  const cache = tempDir();
  const r = await lutra(['pull', 'hf:test/corrupt'], hubEnv(cache));
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`c-Q8_0\\.gguf: sha256 mismatch, expected ${wrong} .*, got ${sha256(GGUF)}`));
  const dir = repoDir(cache, 'test/corrupt');
  assert.ok(!existsSync(join(dir, 'snapshots')));
  assert.deepEqual(readdirSync(join(dir, 'blobs')), []);
});

test('a gated repo: 401 says so and names HF_TOKEN; with HF_TOKEN the Bearer token goes to the Hub, not the CDN', async () => {
  hub.addRepo('test/gated', { 'g-Q8_0.gguf': GGUF }, { gated: true });
  const cache = tempDir();
  const denied = await lutra(['pull', 'hf:test/gated'], hubEnv(cache));
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /hf:test\/gated: test\/gated is a gated repo: .*set HF_TOKEN.*resolve\/.*HTTP 401 GatedRepo/);
  const before = hub.requests.length;
  const ok = await lutra(['pull', 'hf:test/gated'], hubEnv(cache, { HF_TOKEN: TOKEN }));
  assert.equal(ok.code, 0, ok.stderr);
  const seen = hub.requests.slice(before);
  assert.ok(seen.filter((q) => q.server === 'hub').every((q) => q.auth === `Bearer ${TOKEN}`));
  assert.ok(seen.filter((q) => q.server === 'cdn').every((q) => q.auth === undefined));
});

test('404s name the repo or the file; a refused connection names the URL and ECONNREFUSED', async () => {
  const cache = tempDir();
  const r = await lutra(['pull', 'hf:test/missing'], hubEnv(cache));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /hf:test\/missing: repo test\/missing not found on http:\/\/127\.0\.0\.1:\d+; .*\/api\/models\/test\/missing\/revision\/main: HTTP 404 RepoNotFound/);
  const f = await lutra(['pull', 'hf:test/stories/nope.gguf'], hubEnv(cache));
  assert.match(f.stderr, /test\/stories has no file nope\.gguf; .*HTTP 404 EntryNotFound/);
  const refused = await lutra(['run', 'hf:test/stories:Q8_0', ...PROMPT], hubEnv(cache, { HF_ENDPOINT: 'http://127.0.0.1:1' }));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /GET http:\/\/127\.0\.0\.1:1\/api\/models\/test\/stories\/revision\/main failed: .*ECONNREFUSED/);
});

test('HF_HUB_OFFLINE=1: a clear error without a cached copy; with one, run works without a single request', async () => {
  const cache = tempDir();
  const offline = hubEnv(cache, { HF_HUB_OFFLINE: '1' });
  const before = hub.requests.length;
  const miss = await lutra(['run', 'hf:test/stories:Q8_0', ...PROMPT], offline);
  assert.equal(miss.code, 1);
  assert.match(miss.stderr, /hf:test\/stories:Q8_0: HF_HUB_OFFLINE is set and the cache \(.*models--test--stories\) does not hold it; run `lutra pull hf:test\/stories:Q8_0` while online/);
  assert.equal((await lutra(['pull', 'hf:test/stories:Q8_0'], hubEnv(cache))).code, 0);
  const mid = hub.requests.length;
  assert.ok(mid > before);
  const hit = await lutra(['run', 'hf:test/stories:Q8_0', ...PROMPT], offline);
  assert.equal(hit.code, 0, hit.stderr);
  assert.match(hit.stdout, /^Once upon a time/);
  assert.equal(hub.requests.length, mid);
});

test('files another tool put in the cache (same layout) are used without any request; pull only asks for metadata', async () => {
  const cache = tempDir();
  const commit = commitOf('another tool');
  hub.addRepo('test/other', { 'o-Q8_0.gguf': GGUF }).commit = commit;
  const dir = repoDir(cache, 'test/other');
  mkdirSync(join(dir, 'blobs'), { recursive: true });
  mkdirSync(join(dir, 'snapshots', commit), { recursive: true });
  mkdirSync(join(dir, 'refs'));
  writeFileSync(join(dir, 'blobs', sha256(GGUF)), GGUF);
  symlinkSync(`../../blobs/${sha256(GGUF)}`, join(dir, 'snapshots', commit, 'o-Q8_0.gguf'));
  writeFileSync(join(dir, 'refs', 'main'), commit);
  const env = hubEnv(cache);
  const before = hub.requests.length;
  const r = await lutra(['run', 'hf:test/other:Q8_0', ...PROMPT], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(hub.requests.length, before, 'no request at all');
  const p = await lutra(['pull', 'hf:test/other:Q8_0'], env);
  assert.equal(p.code, 0, p.stderr);
  const seen = hub.requests.slice(before);
  assert.deepEqual(seen.map((q) => `${q.server} ${q.method}`), ['hub GET', 'hub HEAD'], 'the listing and one HEAD; no bytes');
  assert.equal(p.stdout.trim(), resolve(dir, 'snapshots', commit, 'o-Q8_0.gguf'));
});

test('a size that differs from X-Linked-Size is refused before a byte is kept', async () => {
  hub.addRepo('test/size', { 's-Q8_0.gguf': { data: GGUF, wrongSize: GGUF.length + 1 } });
  const cache = tempDir();
  await assert.rejects(pull('hf:test/size', { env: hubEnv(cache) }), (e: HubError) =>
    e.code === 'E_HUB_INTEGRITY' && new RegExp(`s-Q8_0\\.gguf: http://.*/cdn/.* sends ${GGUF.length} bytes, the Hub announced ${GGUF.length + 1}`).test(e.message));
  assert.ok(!existsSync(join(repoDir(cache, 'test/size'), 'snapshots')));
});

test('bounded: a server that never answers times out naming the URL; a redirect loop stops', async () => {
  const silent = http.createServer(() => {});
  const looping = http.createServer((req, res) => { res.writeHead(307, { location: req.url }); res.end(); });
  for (const s of [silent, looping]) await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const url = (s: http.Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  try {
    const env = hubEnv(tempDir());
    await assert.rejects(pull('hf:o/r:Q8_0', { env, endpoint: url(silent), idleTimeoutMs: 200 }), (e: HubError) =>
      e.code === 'E_HUB_NETWORK' && /GET http:\/\/127\.0\.0\.1:\d+\/api\/models\/o\/r\/revision\/main failed: ETIMEDOUT: waiting for data timed out after 200 ms/.test(e.message));
    await assert.rejects(pull('hf:o/r/m.gguf', { env, endpoint: url(looping) }), (e: HubError) =>
      e.code === 'E_HUB_NETWORK' && /resolve\/main\/m\.gguf: more than 5 redirects/.test(e.message));
  } finally {
    for (const s of [silent, looping]) { s.closeAllConnections(); await new Promise((ok) => s.close(ok)); }
  }
});

test('other commands take hf: references too (tokenize, inspect), from the cache', async () => {
  const cache = tempDir();
  const env = hubEnv(cache);
  assert.equal((await lutra(['pull', 'hf:test/stories:Q8_0'], env)).code, 0);
  const offline = hubEnv(cache, { HF_HUB_OFFLINE: '1' });
  const viaHub = await lutra(['tokenize', 'hf:test/stories:Q8_0', '--text', 'Once upon a time'], offline);
  const direct = await lutra(['tokenize', STORIES_GGUF, '--text', 'Once upon a time'], offline);
  assert.equal(viaHub.code, 0, viaHub.stderr);
  assert.equal(viaHub.stdout, direct.stdout);
  const info = await lutra(['inspect', 'hf:test/stories:Q8_0', '--json'], offline);
  assert.equal(info.code, 0, info.stderr);
  assert.equal(JSON.parse(info.stdout).metadata['general.architecture'], 'llama');
});

test('progress on a terminal: one redrawn line with bytes, rate and ETA, then a summary line', () => {
  let out = '';
  const stream = { isTTY: true, write: (s: string) => { out += s; return true; } } as unknown as NodeJS.WriteStream;
  const report = stderrProgress(stream);
  report({ type: 'start', file: 'm.gguf', total: 4_000_000, resumedFrom: 0 });
  report({ type: 'progress', file: 'm.gguf', loaded: 4_000_000, total: 4_000_000 });
  report({ type: 'done', file: 'm.gguf', total: 4_000_000, downloaded: 4_000_000, seconds: 2, cached: false });
  assert.match(out, /^\r\x1b\[Km\.gguf {2}100% {2}4\.00 MB \/ 4\.00 MB {2}[\d.]+ [kMGT]?B\/s {2}ETA 0:00\r\x1b\[Klutra: m\.gguf: 4\.00 MB in 2\.0 s \(2\.00 MB\/s\)\n$/);
});

test('a listing naming ../ paths is not followed out of the cache; an aborted signal stops a pull', async () => {
  hub.addRepo('test/evil', { '../../evil-Q4_K_M.gguf': GGUF, '/abs-Q4_K_M.gguf': GGUF });
  const cache = tempDir();
  await assert.rejects(pull('hf:test/evil', { env: hubEnv(join(cache, 'hub')) }), (e: HubError) => e.code === 'E_HUB_REF' && /the repo is empty/.test(e.message));
  assert.deepEqual(readdirSync(cache), []);
  await assert.rejects(pull('hf:test/stories:Q8_0', { env: hubEnv(cache), signal: AbortSignal.abort() }), (e: HubError) => e.code === 'E_ABORTED');
});

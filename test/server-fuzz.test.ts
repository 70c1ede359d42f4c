// A fuzz test of `lutra serve` on loopback: random and mutated requests drawn from a grammar of the
// API (methods, path spellings, keys, content types, Host and Origin headers, request bodies with
// fields swapped for wrong types and extreme values, broken JSON), bounded in count and time.
// Asserted throughout and after: no request without the key ever gets a model's answer, /health
// answers within a second, nothing but 503 among the 5xx, the greedy text afterwards equals
// `lutra run`'s, and the server's RSS ends within 20% of where it started.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LUTRA_BIN, STORIES_GGUF } from './helpers.js';
import { startServer, type Served } from './server-helpers.js';
import { rawRequest, type RawResponse } from './raw-http.js';

const KEY = 'sk-fuzz-0123456789';
/** Requests sent (the count bound) and the wall-clock bound on the whole run. */
const CASES = 2000;
const TIME_BUDGET_MS = 90_000;
const CONCURRENCY = 4;

let served: Served;
before(async () => {
  served = await startServer(STORIES_GGUF, ['--ctx', '512', '--api-key', KEY, '--parallel', '2', '--max-queue', '4', '--headers-timeout', '3', '--request-timeout', '5']);
});
after(async () => { await served?.stop('SIGKILL'); });

/** xorshift32: the same cases every run. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)]!,
    chance: (p: number) => next() < p,
  };
}
type R = ReturnType<typeof rng>;

const PATHS = ['/v1/completions', '/v1/chat/completions', '/v1/models', '/v1/models/stories260K', '/model.gguf', '/health', '/', '/web/chat.js', '/v1', '/v2/completions'];
const METHODS = ['POST', 'POST', 'POST', 'GET', 'GET', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'HEAD'];

function mutatePath(r: R, p: string): string {
  const ops: ((s: string) => string)[] = [
    (s) => { const i = 1 + r.int(Math.max(1, s.length - 1)); return s.slice(0, i) + '%' + s.charCodeAt(i).toString(16).padStart(2, '0') + s.slice(i + 1); },
    (s) => { const i = r.int(s.length); return s.slice(0, i) + s[i]!.toUpperCase() + s.slice(i + 1); },
    (s) => s + '/',
    (s) => '/' + s,
    (s) => s.replace('/v1/', '/v1//'),
    (s) => s.replace('/v1/', '/v1/./'),
    (s) => s.replace('/v1/', '/x/../v1/'),
    (s) => s + '?' + r.pick(['x', 'a=1&b=2', '%00', '../..']),
    (s) => s + '#frag',
    (s) => `http://${r.pick(['x', '127.0.0.1', 'evil.example'])}${s}`,
    (s) => s.replace(/\//g, r.chance(0.5) ? '\\' : '/'),
    (s) => s + '%00',
    (s) => s + ';a=b',
    (s) => s + 'é'.repeat(r.int(3)),
    (s) => s + '/..%2f..%2fetc%2fpasswd',
  ];
  let out = p;
  for (let k = r.int(3); k > 0; k--) out = r.pick(ops)(out);
  return out;
}

const WEIRD = [null, true, -1, 0, 1e308, -1e308, 2 ** 53, 3.5, '', 'x'.repeat(300), [], {}, [[[]]], { a: { b: { c: 1 } } }, '\u0000', 'NaN', '1e9', [1, 2, 3]];

function validBody(r: R, path: string): Record<string, unknown> {
  const base: Record<string, unknown> = { max_tokens: 1 + r.int(4), temperature: r.pick([0, 0.5, 1, 2]) };
  if (r.chance(0.3)) base.n = 1 + r.int(3);
  if (r.chance(0.3)) base.stream = true;
  if (r.chance(0.2)) base.stop = r.pick(['.', ['a', 'b'], '']);
  if (r.chance(0.2)) base.logit_bias = { [String(r.int(600))]: r.pick([-100, 5, 100]) };
  if (r.chance(0.2)) base.seed = r.int(1000);
  if (r.chance(0.1)) base.top_p = r.pick([0.5, 1]);
  if (r.chance(0.1)) base.user = r.pick(['alice', 'bob']);
  if (path.includes('chat')) {
    base.messages = [{ role: r.pick(['user', 'system', 'assistant', 'tool']), content: r.pick(['hi', 'Once upon a time', '']) }];
  } else {
    base.prompt = r.pick<unknown>(['Once upon a time', ['a', 'b'], [1, 2, 3], [[1, 2], [3]], 'x'.repeat(r.int(2000))]);
  }
  return base;
}

function mutateBody(r: R, b: Record<string, unknown>): Record<string, unknown> {
  const keys = [...Object.keys(b), 'prompt', 'messages', 'n', 'max_tokens', 'tools', 'response_format', 'logprobs', 'echo', 'stream_options', '__proto__', 'constructor'];
  for (let k = 1 + r.int(2); k > 0; k--) {
    const key = r.pick(keys);
    if (r.chance(0.15)) delete b[key];
    else b[key] = r.pick(WEIRD);
  }
  if (r.chance(0.1)) b.n = r.pick([16, 17, 64, 1000]);
  if (r.chance(0.1)) b.prompt = Array.from({ length: r.pick([64, 65, 200]) }, () => 'a');
  return b;
}

interface Case { head: string; body: string; keyed: boolean; desc: string }

function makeCase(r: R, host: string): Case {
  const method = r.pick(METHODS);
  let path = r.pick(PATHS);
  if (r.chance(0.6)) path = mutatePath(r, path);
  const auth = r.pick([
    'none', 'none', 'right', 'right', 'wrong', `Bearer ${KEY.slice(0, -1)}`, `Bearer ${KEY}x`, `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}`, `bearer ${KEY}`, `Bearer  ${KEY} `, `Bearer\t${KEY}`, KEY,
  ]);
  const keyed = auth === 'right' || auth === `bearer ${KEY}` || auth === `Bearer  ${KEY} ` || auth === `Bearer\t${KEY}`;
  const headers = [`${method} ${path} HTTP/1.1`];
  const h = r.pick([host, host, host, 'evil.example', `localhost:${host.split(':')[1]}`, '']);
  if (h) headers.push(`Host: ${h}`);
  if (auth === 'right') headers.push(`Authorization: Bearer ${KEY}`);
  else if (auth === 'wrong') headers.push('Authorization: Bearer sk-wrong');
  else if (auth !== 'none') headers.push(`Authorization: ${auth}`);
  if (r.chance(0.2)) headers.push(`Origin: ${r.pick(['https://evil.example', 'null', `http://${host}`])}`);
  let body = '';
  if (method !== 'GET' && method !== 'HEAD' || r.chance(0.1)) {
    const obj = mutateBody(r, validBody(r, path));
    body = r.chance(0.85) ? JSON.stringify(obj) : r.pick([JSON.stringify(obj).slice(0, 10), '{"prompt":', 'not json', '[' .repeat(5000), '\u0000\u0001']);
    if (r.chance(0.5) && path.includes('completions')) body = JSON.stringify(validBody(r, path));
    headers.push(`Content-Type: ${r.pick(['application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'APPLICATION/JSON'])}`);
    headers.push(`Content-Length: ${r.chance(0.03) ? Buffer.byteLength(body) + 5 : Buffer.byteLength(body)}`);
  }
  headers.push('Connection: close');
  return { head: headers.join('\r\n'), body, keyed, desc: headers[0]! };
}

/** Did this response carry something only the key may see: model output, the model list, the weights? */
function leaked(res: RawResponse): boolean {
  if (res.status < 200 || res.status >= 300) return false;
  const ct = res.headers['content-type'] ?? '';
  if (/text\/html|text\/javascript/.test(ct)) return false; // the chat page and its scripts are public
  if (res.status === 204 && res.body === '') return false; // a CORS preflight answer
  try {
    const j = JSON.parse(res.body) as Record<string, unknown>;
    if ('status' in j && 'slots_idle' in j && !('choices' in j)) return false; // /health
  } catch { /* not JSON: an event stream or the model file */ }
  return true;
}

test(`fuzz: ${CASES} random and mutated requests; the key holds, /health stays fast, output and memory intact`, { timeout: TIME_BUDGET_MS + 60_000 }, async () => {
  const url = served.url;
  const host = new URL(url).host;
  const rssOf = async () => ((await (await fetch(`${url}/health`)).json()) as { memory: { rss: number } }).memory.rss;
  // Warm up, so the start RSS includes what a working server holds anyway.
  for (let i = 0; i < 5; i++) {
    await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 16 }) });
  }
  // Then a warm-up round of the fuzz itself (not judged), so the heap has grown to its working size.
  const warm = rng(7);
  for (let i = 0; i < 300; i++) { const c = makeCase(warm, host); await rawRequest(url, c.head, c.body, { timeoutMs: 15_000 }); }
  const rssStart = await rssOf();

  let healthWorst = 0, healthPolls = 0, healthFailures = 0, stop = false;
  const poller = (async () => {
    while (!stop) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (res.status !== 200) healthFailures++;
      } catch { healthFailures++; }
      healthWorst = Math.max(healthWorst, performance.now() - t0);
      healthPolls++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const r = rng(20261203);
  const cases = Array.from({ length: CASES }, () => makeCase(r, host));
  const statuses = new Map<number, number>();
  const violations: string[] = [];
  const serverErrors: string[] = [];
  const t0 = Date.now();
  let sent = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (;;) {
      const i = sent++;
      if (i >= cases.length || Date.now() - t0 > TIME_BUDGET_MS) return;
      const c = cases[i]!;
      const res = await rawRequest(url, c.head, c.body, { timeoutMs: 15_000 });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      // A HEAD answer has no body to judge: judge the GET the same route gives these headers.
      const judged = c.head.startsWith('HEAD ') && res.status >= 200 && res.status < 300
        ? await rawRequest(url, c.head.replace(/^HEAD /, 'GET '), '', { timeoutMs: 15_000 }) : res;
      if (!c.keyed && leaked(judged)) violations.push(`${c.desc} -> ${res.status} ${judged.body.slice(0, 80)}`);
      if (res.status >= 500 && res.status !== 503) serverErrors.push(`${c.desc} -> ${res.status} ${res.body.slice(0, 120)}`);
      if (res.status === 0) serverErrors.push(`${c.desc} -> no answer in 15 s`);
    }
  }));
  stop = true;
  await poller;
  const elapsed = Date.now() - t0;

  // The model still answers exactly as `lutra run` does.
  const { stdout } = await promisify(execFile)(process.execPath, [LUTRA_BIN, 'run', STORIES_GGUF, '-p', 'Once upon a time', '--temp', '0', '-n', '32', '--no-display-prompt']);
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 32, temperature: 0 }) });
  const text = ((await res.json()) as { choices: { text: string }[] }).choices[0]!.text;
  // RSS moves with the garbage collector: the lowest of a few readings over two seconds.
  let rssEnd = Infinity;
  for (let i = 0; i < 10; i++) { rssEnd = Math.min(rssEnd, await rssOf()); await new Promise((r) => setTimeout(r, 200)); }

  const summary = `fuzz: ${Math.min(sent, cases.length)} requests in ${(elapsed / 1000).toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; ` +
    `/health ${healthPolls} polls, worst ${healthWorst.toFixed(0)} ms, ${healthFailures} failed; RSS ${(rssStart / 1e6).toFixed(1)} -> ${(rssEnd / 1e6).toFixed(1)} MB; ` +
    `${violations.length} key violations, ${serverErrors.length} server errors`;
  console.log(summary);
  for (const v of violations.slice(0, 5)) console.log(`key violation: ${v}`);
  assert.deepEqual(violations, [], summary);
  assert.deepEqual(serverErrors, [], summary);
  assert.ok(sent >= 200, `only ${sent} requests in the time budget: ${summary}`);
  assert.equal(healthFailures, 0, summary);
  assert.ok(healthWorst < 1000, summary);
  assert.equal(text, stdout.replace(/\n$/, ''));
  assert.ok(Math.abs(rssEnd - rssStart) <= 0.2 * rssStart, summary);
  assert.equal(served.proc.exitCode, null, 'the server is still running');
});

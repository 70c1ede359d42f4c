// The chat page's hf: references: the Hub's file list -> the download URLs of the GGUF (the pull
// rule: a quant tag, an explicit file, else Q4_K_M; every shard of a split one); a token goes to
// the Hub endpoint's origin only; safetensors-only repos, gated repos without a token and
// unreachable endpoints are errors that say so. Against a local stand-in of the Hub API.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { hubModelUrls, shardUrls, tokenHeaders } from '../src/web/hub-url.js';

test('hubModelUrls: quant tag, explicit file, default quant, every shard of a split file; folder, gated, missing and unreachable are clear errors', async () => {
  const repos: Record<string, string[]> = {
    'me/tiny-GGUF': ['README.md', 'tiny-Q4_0.gguf', 'tiny-Q4_K_M.gguf', 'tiny-Q8_0.gguf'],
    'me/split-GGUF': ['big-Q4_K_M-00001-of-00002.gguf', 'big-Q4_K_M-00002-of-00002.gguf'],
    'me/folder': ['config.json', 'model.safetensors', 'tokenizer.json'],
  };
  const server = createServer((req, res) => {
    const m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(req.url ?? '');
    if (m?.[1] === 'me/gated' && req.headers.authorization !== 'Bearer hf_ok') { res.writeHead(401).end(); return; }
    if (m?.[1] === 'me/gated') { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sha: 'b'.repeat(40), siblings: [{ rfilename: 'g-Q4_K_M.gguf' }] })); return; }
    const files = m ? repos[m[1]!] : undefined;
    if (!files) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sha: 'a'.repeat(40), siblings: files.map((rfilename) => ({ rfilename })) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    assert.deepEqual(await hubModelUrls('hf:me/tiny-GGUF:Q8_0', { endpoint }), [`${endpoint}/me/tiny-GGUF/resolve/main/tiny-Q8_0.gguf`]);
    assert.deepEqual(await hubModelUrls('hf:me/tiny-GGUF', { endpoint }), [`${endpoint}/me/tiny-GGUF/resolve/main/tiny-Q4_K_M.gguf`]);
    assert.deepEqual(await hubModelUrls('hf:me/tiny-GGUF@v1/tiny-Q4_0.gguf', { endpoint }), [`${endpoint}/me/tiny-GGUF/resolve/v1/tiny-Q4_0.gguf`]);
    assert.deepEqual(await hubModelUrls('hf:me/split-GGUF', { endpoint }), [1, 2].map((i) => `${endpoint}/me/split-GGUF/resolve/main/big-Q4_K_M-0000${i}-of-00002.gguf`));
    await assert.rejects(hubModelUrls('hf:me/folder', { endpoint }), /the repo has no GGUF file/);
    await assert.rejects(hubModelUrls('hf:me/gated', { endpoint }), /HTTP 401: the repo is gated or private: give a Hugging Face access token/);
    await assert.rejects(hubModelUrls('hf:me/gated', { endpoint, token: 'hf_bad' }), /HTTP 401: the token was refused, or it has no access/);
    assert.deepEqual(await hubModelUrls('hf:me/gated', { endpoint, token: 'hf_ok' }), [`${endpoint}/me/gated/resolve/main/g-Q4_K_M.gguf`]);
    await assert.rejects(hubModelUrls('hf:me/nothing', { endpoint }), /HTTP 404: no such repo or revision/);
    // The token goes to the endpoint's origin only.
    assert.deepEqual(tokenHeaders(`${endpoint}/me/gated/resolve/main/g.gguf`, { endpoint, token: 't' }), { authorization: 'Bearer t' });
    assert.deepEqual(tokenHeaders('https://cdn-lfs.example/x.gguf', { endpoint, token: 't' }), {});
    assert.deepEqual(tokenHeaders(`${endpoint}/x`, { endpoint }), {});
    assert.deepEqual(tokenHeaders('https://huggingface.co/x', { token: 't' }), { authorization: 'Bearer t' });
    // A shard's URL gives all its siblings' (query kept); other names are not shards.
    assert.deepEqual(shardUrls('http://h/m/st-00002-of-00003.gguf?download=true'), [1, 2, 3].map((i) => `http://h/m/st-0000${i}-of-00003.gguf?download=true`));
    assert.equal(shardUrls('http://h/model.gguf'), undefined);
    // A port nobody listens on: the message names the request and the cause, not just "fetch failed".
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const dead = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise((r) => closed.close(r));
    await assert.rejects(hubModelUrls('hf:me/tiny-GGUF', { endpoint: dead }), (e: Error) => e.message.startsWith(`GET ${dead}/api/models/me/tiny-GGUF/revision/main: ECONNREFUSED`));
  } finally {
    server.close();
  }
});

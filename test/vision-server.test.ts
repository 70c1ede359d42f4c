// Images through the OpenAI surface on a tiny synthetic MiniCPM-V pair (lutra synth tiny-minicpmv):
// the engine's chat.completions with image_url data URLs gives the same greedy text and prompt
// size as the runtime's own image path, a second question about the same picture encodes nothing,
// and `lutra serve --mmproj` answers the `openai` client; bad images (corrupt, a 20000x20000
// header, a non-image type, a URL the server may not fetch, a model without a projector) are 400s
// naming the content part.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodePng } from 'fast-png';
import OpenAI from 'openai';
import { createEngine, type Engine } from '../src/openai/engine.js';
import { encodePrompt, generateWithImages, loadProjector } from '../src/runtime/vision.js';
import { decodeImage } from '../src/vision/image.js';
import { preprocessImage } from '../src/vision/slicing.js';
import { LUTRA_BIN } from './helpers.js';
import { startServer, type Served } from './server-helpers.js';
import { patternImage } from './vision-cases.js';

let dir: string, llm: string, mmproj: string, engine: Engine;
const png = (w: number, h: number) => encodePng({ width: w, height: h, data: patternImage(w, h).data, channels: 3, depth: 8 });
const dataUrl = (bytes: Uint8Array, type = 'image/png') => `data:${type};base64,${Buffer.from(bytes).toString('base64')}`;
const ask = (url: string, text = 'What is in the picture?') => ({
  model: 'x', temperature: 0, max_tokens: 8,
  messages: [{ role: 'user' as const, content: [{ type: 'image_url' as const, image_url: { url } }, { type: 'text' as const, text }] }],
});
/** A PNG that says it is 20000 x 20000 and holds no pixels. */
function hugeHeader(): Uint8Array {
  const b = png(4, 4);
  new DataView(b.buffer, b.byteOffset).setUint32(16, 20000);
  new DataView(b.buffer, b.byteOffset).setUint32(20, 20000);
  return b;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lutra-vision-'));
  llm = join(dir, 'llm.gguf'); mmproj = join(dir, 'mmproj.gguf');
  execFileSync(process.execPath, [LUTRA_BIN, 'synth', '--preset', 'tiny-minicpmv', '--type', 'F32', '-o', llm, '--mmproj', mmproj]);
  engine = await createEngine({ model: llm, mmproj, ctx: 1024 });
});
after(async () => { await engine?.dispose(); rmSync(dir, { recursive: true, force: true }); });

test('chat.completions with an image_url part: same greedy text and prompt size as the runtime path', async () => {
  const image = png(120, 60);
  const r = await engine.chat.completions.create(ask(dataUrl(image)));
  // The runtime's own path on the same rendered chat.
  const projector = await loadProjector(mmproj, { kernels: engine.model.kernels, model: engine.model });
  try {
    const text = engine.chatPromptText(ask('').messages);
    const [before, after] = text.split('<__media__>');
    const prepared = preprocessImage(decodeImage(image, 'image'), projector.hparams);
    assert.ok(prepared.slices.length > 1, 'a 120x60 image is sliced for 56-pixel slices');
    const enc = encodePrompt(engine.model, projector, [before!, { image: prepared }, after!]);
    assert.equal(r.usage!.prompt_tokens, enc.ids.length);
    const ctx = engine.model.createContext({ ctx: 1024 });
    let out = '';
    try {
      for await (const c of generateWithImages(engine.model, ctx, enc, { temperature: 0, maxTokens: 8 })) out += c.text;
    } finally { ctx.dispose(); }
    assert.equal(r.choices[0]!.message.content, out);
  } finally { projector.dispose(); }
});

test('a follow-up question about the same image encodes no slice again', async () => {
  const url = dataUrl(png(90, 90));
  const stats = engine.vision!.cache.stats;
  await engine.chat.completions.create(ask(url));
  const encoded = stats.encoded, reused = stats.reused;
  const r = await engine.chat.completions.create(ask(url, 'And the colours?'));
  assert.equal(stats.encoded, encoded, 'no slice was encoded again');
  assert.ok(stats.reused > reused);
  assert.ok(r.choices[0]!.message.content !== null);
});

test('bad images are InvalidRequestErrors naming the part', async () => {
  const truncated = png(64, 64).subarray(0, 60);
  await assert.rejects(engine.chat.completions.create(ask(dataUrl(truncated))), /messages\[0\]\.content\[0\]\.image_url: .*(truncated|corrupt)/);
  await assert.rejects(engine.chat.completions.create(ask(dataUrl(hugeHeader()))), /messages\[0\]\.content\[0\]\.image_url: .*20000x20000/);
  await assert.rejects(engine.chat.completions.create(ask('data:text/plain;base64,aGVsbG8=')), /only image\/png and image\/jpeg/);
  await assert.rejects(engine.chat.completions.create(ask('http://127.0.0.1:9/x.png')), /does not fetch image URLs/);
  await assert.rejects(engine.chat.completions.create(ask('ftp://x/y.png')), /scheme ftp:/);
});

test('lutra serve --mmproj: the openai client sends images; errors are 400s; --allow-image-urls fetches with a type check', async () => {
  let files: Server | undefined;
  let served: Served | undefined;
  try {
    const image = png(100, 70);
    files = createServer((req, res) => {
      if (req.url === '/cat.png') { res.writeHead(200, { 'content-type': 'image/png' }); res.end(image); }
      else { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html></html>'); }
    });
    await new Promise<void>((r) => files!.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(files.address() as { port: number }).port}`;
    served = await startServer(llm, ['--mmproj', mmproj, '-c', '1024', '--allow-image-urls']);
    const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const viaData = await client.chat.completions.create(ask(dataUrl(image)));
    const viaUrl = await client.chat.completions.create(ask(`${base}/cat.png`));
    assert.equal(viaUrl.choices[0]!.message.content, viaData.choices[0]!.message.content, 'the same picture by URL and by data URL');
    assert.equal(viaUrl.usage!.prompt_tokens, viaData.usage!.prompt_tokens);
    const stream = await client.chat.completions.create({ ...ask(dataUrl(image)), stream: true });
    let streamed = '';
    for await (const c of stream) streamed += c.choices[0]?.delta.content ?? '';
    assert.equal(streamed, viaData.choices[0]!.message.content);
    await assert.rejects(client.chat.completions.create(ask(`${base}/page.html`)), (e: { status?: number; message: string }) => e.status === 400 && /text\/html/.test(e.message));
    await assert.rejects(client.chat.completions.create(ask(dataUrl(hugeHeader()))), (e: { status?: number; message: string }) => e.status === 400 && /20000x20000/.test(e.message));
  } finally {
    await served?.stop();
    files?.close();
  }
});

test('a model served without --mmproj refuses image parts by name', async () => {
  const plain = await createEngine({ model: llm, ctx: 256 });
  try {
    await assert.rejects(plain.chat.completions.create(ask(dataUrl(png(8, 8)))), /messages\[0\]\.content\[0\]\.image_url: this model takes no images/);
  } finally { await plain.dispose(); }
});

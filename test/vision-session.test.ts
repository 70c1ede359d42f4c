// Images in chat sessions (createChatSession) on a tiny synthetic MiniCPM-V pair: a picture is
// encoded once for the session, a follow-up question decodes only its new turn (the picture's rows
// stay in the context; in a server slot too, for the same client) and answers as a fresh prefill
// of the whole conversation does, the
// response timings carry each image's encode time; odd pictures (1x1, 4000x50) are answered and
// bad ones (truncated PNG and JPEG, no projector, a projector of another width) are errors naming
// the part or the files.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encode as encodePng } from 'fast-png';
import { createEngine, type Engine } from '../src/openai/engine.js';
import type { ChatCompletionMessageParam } from '../src/openai/types.js';
import { encodeImageChat } from '../src/openai/vision-chat.js';
import { DATA, LUTRA_BIN, STORIES_GGUF } from './helpers.js';
import { patternImage } from './vision-cases.js';

let dir: string, llm: string, mmproj: string, engine: Engine;
const png = (w: number, h: number) => encodePng({ width: w, height: h, data: patternImage(w, h).data, channels: 3, depth: 8 });
const dataUrl = (bytes: Uint8Array, type = 'image/png') => `data:${type};base64,${Buffer.from(bytes).toString('base64')}`;
const withImage = (url: string, text: string): ChatCompletionMessageParam => ({ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text }] });
const GREEDY = { temperature: 0, max_tokens: 6 } as const;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lutra-vision-session-'));
  llm = join(dir, 'llm.gguf'); mmproj = join(dir, 'mmproj.gguf');
  execFileSync(process.execPath, [LUTRA_BIN, 'synth', '--preset', 'tiny-minicpmv', '--type', 'F32', '-o', llm, '--mmproj', mmproj]);
  engine = await createEngine({ model: llm, mmproj, ctx: 1024 });
});
after(async () => { await engine?.dispose(); rmSync(dir, { recursive: true, force: true }); });

test('a chat session takes images: the follow-up reuses the picture\'s rows and answers as a fresh prefill', async () => {
  const url = dataUrl(png(120, 60));
  const s = engine.createChatSession();
  try {
    const first = await s.send(withImage(url, 'What is in the picture?'), GREEDY);
    const im = first.timings!.images!;
    assert.equal(im.length, 1);
    assert.equal(im[0]!.slices, 3, 'a 120x60 picture is an overview and two slices');
    assert.ok(im[0]!.tokens > 0 && im[0]!.encode_ms > 0, JSON.stringify(im));
    // The same first turn through chat.completions (a fresh prefill) says the same.
    const fresh1 = await engine.chat.completions.create({ model: 'x', ...GREEDY, messages: [withImage(url, 'What is in the picture?')] });
    assert.equal(first.choices[0]!.message.content, fresh1.choices[0]!.message.content);

    const second = await s.send('And the colours?', GREEDY);
    const promptTokens = second.usage!.prompt_tokens, cached = second.usage!.prompt_tokens_details.cached_tokens;
    assert.ok(cached >= first.usage!.prompt_tokens, `the first turn (${first.usage!.prompt_tokens} tokens, its picture included) came from the cache: ${cached} of ${promptTokens}`);
    assert.ok(second.timings!.prompt_n <= promptTokens - first.usage!.prompt_tokens + 1, `only the new turn was decoded: ${second.timings!.prompt_n} tokens`);
    assert.ok(second.timings!.images![0]!.encode_ms < im[0]!.encode_ms, 'the picture came from the session\'s image cache');
    const fresh2 = await engine.chat.completions.create({ model: 'x', ...GREEDY, messages: s.messages.slice(0, -1) as ChatCompletionMessageParam[] });
    assert.equal(second.choices[0]!.message.content, fresh2.choices[0]!.message.content, 'reused rows answer as a full prefill does');
    assert.equal(fresh2.usage!.prompt_tokens, promptTokens);

    // Another picture in place of the first: nothing past the text before it is reused.
    s.reset();
    const otherTurn = withImage(dataUrl(png(100, 80)), 'What is in the picture?');
    const other = await s.send(otherTurn, GREEDY);
    const enc = await encodeImageChat(engine.model, engine.vision, [otherTurn], engine.chatPromptText([otherTurn]));
    assert.equal(other.usage!.prompt_tokens_details.cached_tokens, enc.embeddings[0]!.start, 'reused up to the new picture\'s first row, not into the old one\'s');
    const fresh3 = await engine.chat.completions.create({ model: 'x', ...GREEDY, messages: [withImage(dataUrl(png(100, 80)), 'What is in the picture?')] });
    assert.equal(other.choices[0]!.message.content, fresh3.choices[0]!.message.content);

    // A text-only conversation after pictures reuses nothing past where the picture was.
    s.reset();
    const text = await s.send('What is in the picture?', GREEDY);
    const freshText = await engine.chat.completions.create({ model: 'x', ...GREEDY, messages: [{ role: 'user', content: 'What is in the picture?' }] });
    assert.equal(text.choices[0]!.message.content, freshText.choices[0]!.message.content);
  } finally {
    s.dispose();
  }
});

test('chat.completions: the same client asking again about a picture reuses its rows in the slot', async () => {
  const url = dataUrl(png(90, 60));
  const first = await engine.chat.completions.create({ model: 'x', ...GREEDY, messages: [withImage(url, 'What is in the picture?')] });
  const messages: ChatCompletionMessageParam[] = [withImage(url, 'What is in the picture?'), { role: 'assistant', content: first.choices[0]!.message.content }, { role: 'user', content: 'And the colours?' }];
  const second = await engine.chat.completions.create({ model: 'x', ...GREEDY, messages });
  assert.ok(second.usage!.prompt_tokens_details.cached_tokens >= first.usage!.prompt_tokens, `${second.usage!.prompt_tokens_details.cached_tokens} cached of ${second.usage!.prompt_tokens}; the first prompt was ${first.usage!.prompt_tokens}`);
  // And the answer is a fresh prefill's: a session of its own decodes it all.
  const s = engine.createChatSession({ messages: messages.slice(0, 2) });
  try {
    assert.equal((await s.send('And the colours?', GREEDY)).choices[0]!.message.content, second.choices[0]!.message.content);
  } finally {
    s.dispose();
  }
});

test('a session streams an image turn; the stream\'s finishing chunk carries the image timings', async () => {
  const s = engine.createChatSession();
  try {
    const stream = await s.send(withImage(dataUrl(png(56, 56)), 'Hi'), { ...GREEDY, stream: true });
    let text = '', images: unknown;
    for await (const c of stream) { text += c.choices[0]?.delta.content ?? ''; if (c.choices[0]?.finish_reason) images = (c as { timings?: { images?: unknown } }).timings?.images; }
    assert.equal(s.messages.at(-1)!.content, text);
    assert.equal((images as { slices: number }[])[0]!.slices, 1);
  } finally {
    s.dispose();
  }
});

test('a 1x1 and a 4000x50 picture are answered (resized and sliced as mtmd does)', async () => {
  const s = engine.createChatSession();
  try {
    const tiny = await s.send(withImage(dataUrl(png(1, 1)), 'What is this?'), GREEDY);
    assert.equal(tiny.timings!.images![0]!.slices, 1);
    s.reset();
    const wide = await s.send(withImage(dataUrl(png(4000, 50)), 'What is this?'), GREEDY);
    assert.ok(wide.timings!.images![0]!.slices > 1, 'a 4000x50 picture is sliced');
    assert.equal(wide.choices[0]!.finish_reason, 'length');
  } finally {
    s.dispose();
  }
});

test('bad pictures in a session are errors naming the part; the session goes on', async () => {
  const s = engine.createChatSession();
  try {
    const jpeg = new Uint8Array(readFileSync(resolve(DATA, 'images/rocket.jpg')));
    await assert.rejects(s.send(withImage(dataUrl(jpeg.subarray(0, 2000), 'image/jpeg'), 'Hi'), GREEDY), /messages\[0\]\.content\[0\]\.image_url: JPEG \d+x\d+ is truncated or corrupt/);
    await assert.rejects(s.send(withImage(dataUrl(png(64, 64).subarray(0, 70)), 'Hi'), GREEDY), /messages\[0\]\.content\[0\]\.image_url: PNG 64x64 is truncated or corrupt/);
    const huge = png(4, 4);
    new DataView(huge.buffer, huge.byteOffset).setUint32(16, 20000);
    new DataView(huge.buffer, huge.byteOffset).setUint32(20, 20000);
    await assert.rejects(s.send(withImage(dataUrl(huge), 'Hi'), GREEDY), /messages\[0\]\.content\[0\]\.image_url: image is 20000x20000/);
    assert.equal(s.messages.length, 0, 'failed turns leave nothing behind');
    const ok = await s.send('Hello', GREEDY);
    assert.equal(ok.choices[0]!.finish_reason, 'length');
  } finally {
    s.dispose();
  }
  const plain = await createEngine({ model: llm, ctx: 256 });
  try {
    const t = plain.createChatSession();
    await assert.rejects(t.send(withImage(dataUrl(png(8, 8)), 'Hi'), GREEDY), /this model takes no images: create the engine with a projector/);
    t.dispose();
  } finally {
    await plain.dispose();
  }
});

test('lutra run --image: a truncated JPEG, a 20000x20000 PNG header and a 1x1 picture', () => {
  const jpeg = new Uint8Array(readFileSync(resolve(DATA, 'images/rocket.jpg')));
  writeFileSync(join(dir, 'cut.jpg'), jpeg.subarray(0, 2000));
  const huge = png(4, 4);
  new DataView(huge.buffer, huge.byteOffset).setUint32(16, 20000);
  new DataView(huge.buffer, huge.byteOffset).setUint32(20, 20000);
  writeFileSync(join(dir, 'huge.png'), huge);
  writeFileSync(join(dir, 'dot.png'), png(1, 1));
  const run = (image: string) => spawnSync(process.execPath, [LUTRA_BIN, 'run', llm, '--mmproj', mmproj, '--image', join(dir, image), '-p', 'Hi', '-n', '2', '--temp', '0', '--verbose'], { encoding: 'utf8' });
  const cut = run('cut.jpg');
  assert.equal(cut.status, 1);
  assert.match(cut.stderr, /^lutra: .*cut\.jpg: JPEG \d+x\d+ is truncated or corrupt/m);
  const big = run('huge.png');
  assert.equal(big.status, 1);
  assert.match(big.stderr, /^lutra: .*huge\.png: image is 20000x20000 \(400\.0 Mpx\); the limit is/m);
  const dot = run('dot.png');
  assert.equal(dot.status, 0, dot.stderr);
  assert.match(dot.stderr, /image .*dot\.png: 1 slice, \d+ embeddings, encoded in \d+ ms/);
});

test('a projector of another width than the LLM is refused naming both files (engine and lutra run)', async () => {
  // stories260K is 64 wide; the tiny pair's projector emits 128-wide rows.
  await assert.rejects(createEngine({ model: STORIES_GGUF, mmproj, ctx: 256 }).then(async (e) => { await e.dispose(); }),
    /mmproj\.gguf: the projector emits 128-wide embeddings but the model .*stories260K\.gguf has n_embd 64/);
  writeFileSync(join(dir, 'pic.png'), png(32, 32));
  const r = spawnSync(process.execPath, [LUTRA_BIN, 'run', STORIES_GGUF, '--mmproj', mmproj, '--image', join(dir, 'pic.png'), '-p', 'Hi', '-n', '2'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^lutra: .*mmproj\.gguf: the projector emits 128-wide embeddings but the model .*stories260K\.gguf has n_embd 64/m);
});

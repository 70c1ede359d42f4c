// Speculative decoding behind the OpenAI-shaped engine and `lutra serve`, driven by the official
// openai client: /v1/completions and /v1/chat/completions, streaming and not, give the same greedy
// text with a draft model, with layer-skip self-drafting and with prompt lookup as without; the
// responses carry llama-server's timings with draft_n / draft_n_accepted; sampling runs through
// the rejection path; `lutra serve --draft MODEL` drafts and says so, and bad flags are refused.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { createEngine, type Completion, type CompletionCreateParams, type Engine, type ResponseTimings } from '../src/openai/index.js';
import { buildServer } from '../src/server/app.js';
import { LUTRA_BIN, QUANTIZED, STORIES_GGUF } from './helpers.js';
import { startServer } from './server-helpers.js';

const Q8 = QUANTIZED.find((x) => x.q === 'q8_0')!.file;
const PROMPT = 'Once upon a time, there was a little girl named Lily. She';
const closers: (() => Promise<unknown>)[] = [];
after(async () => { for (const c of closers.reverse()) await c(); });

async function serveEngine(engine: Engine): Promise<OpenAI> {
  const app = buildServer(engine, {});
  await app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => app.close(), () => engine.dispose());
  const { port } = app.server.address() as { port: number };
  return new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${port}/v1` });
}

type WithTimings = { timings?: ResponseTimings };

/** Text and timings of a completion, a streamed completion, a chat and a streamed chat, greedy. */
async function greedyAll(client: OpenAI) {
  const base = { model: 'm', max_tokens: 48, temperature: 0 };
  const c = await client.completions.create({ ...base, prompt: PROMPT });
  let cs = '', csTimings: ResponseTimings | undefined;
  for await (const ch of await client.completions.create({ ...base, prompt: PROMPT, stream: true })) {
    cs += ch.choices[0]?.text ?? '';
    if (ch.choices[0]?.finish_reason) csTimings = (ch as WithTimings).timings;
  }
  const messages = [{ role: 'user' as const, content: 'Tell me a story about Lily.' }];
  const chat = await client.chat.completions.create({ ...base, messages });
  let chs = '', chsTimings: ResponseTimings | undefined;
  for await (const ch of await client.chat.completions.create({ ...base, messages, stream: true })) {
    chs += ch.choices[0]?.delta.content ?? '';
    if (ch.choices[0]?.finish_reason) chsTimings = (ch as WithTimings).timings;
  }
  return {
    texts: [c.choices[0]!.text, cs, chat.choices[0]!.message.content, chs],
    timings: [(c as WithTimings).timings, csTimings, (chat as WithTimings).timings, chsTimings],
    usage: [c.usage!.completion_tokens, chat.usage!.completion_tokens],
  };
}

test('engine and server: greedy text with a draft model, layer skip or lookup equals plain; timings count drafted and accepted tokens', async () => {
  const plain = await greedyAll(await serveEngine(await createEngine({ model: STORIES_GGUF, ctx: 512 })));
  assert.equal(plain.texts[0], plain.texts[1]);
  for (const t of plain.timings) {
    assert.ok(t && t.predicted_n > 0 && t.predicted_ms > 0 && t.prompt_n > 0, JSON.stringify(t));
    assert.equal(t.draft_n, undefined, 'no draft counts without speculation');
  }
  assert.equal(plain.timings[0]!.predicted_n, plain.usage[0]);
  for (const speculative of [{ draft: Q8, nDraft: 4 }, { layers: 3 }, { lookup: true }]) {
    const sp = await greedyAll(await serveEngine(await createEngine({ model: STORIES_GGUF, ctx: 512, speculative })));
    assert.deepEqual(sp.texts, plain.texts, JSON.stringify(speculative));
    for (const t of sp.timings) {
      assert.ok(t && t.draft_n !== undefined && t.draft_n_accepted !== undefined, JSON.stringify(t));
      assert.ok(t.draft_n_accepted! <= t.draft_n!);
    }
    if ('draft' in speculative) for (const t of sp.timings) assert.ok(t!.draft_n_accepted! > 0 && t!.draft_n_accepted! / t!.draft_n! > 0.5, `q8_0 draft: ${JSON.stringify(t)}`);
  }
});

test('engine: sampling through the rejection path, n choices, timings summed over choices', async () => {
  const engine = await createEngine({ model: STORIES_GGUF, ctx: 512, speculative: { draft: Q8, nDraft: 5 } });
  closers.push(() => engine.dispose());
  const r = await engine.completions.create({ prompt: PROMPT, max_tokens: 40, temperature: 0.9, top_k: 40, seed: 3, n: 3 });
  assert.equal(r.choices.length, 3);
  for (const c of r.choices) assert.ok(c.text.length > 0 && (c.finish_reason === 'length' || c.finish_reason === 'stop'));
  const t = r.timings!;
  assert.equal(t.predicted_n, r.usage!.completion_tokens);
  assert.ok(t.draft_n! > 0 && t.draft_n_accepted! > 0 && t.draft_n_accepted! <= t.draft_n!, JSON.stringify(t));
  // Seeded: the same request samples the same text again.
  const again = await engine.completions.create({ prompt: PROMPT, max_tokens: 40, temperature: 0.9, top_k: 40, seed: 3, n: 3 });
  assert.deepEqual(again.choices.map((c) => c.text), r.choices.map((c) => c.text));
  // A draft with another vocabulary is refused when the engine starts, not at its first request.
  await assert.rejects(createEngine({ model: STORIES_GGUF, speculative: { draft: STORIES_GGUF, layers: 2 } }), /exactly one drafter/);
  await assert.rejects(createEngine({ model: STORIES_GGUF, speculative: { layers: 99 } }), /speculative\.layers must be an integer in 1\.\.5/);
});

test('lutra serve --draft MODEL drafts for /v1/completions and says so; draft flags without a drafter are refused', async () => {
  const served = await startServer(STORIES_GGUF, ['--ctx', '512', '--draft', Q8, '--draft-n', '4']);
  closers.push(() => served.stop('SIGKILL'));
  assert.match(served.stderr(), /speculative: draft \S*stories260K-q8_0-mix\.gguf/);
  const client = new OpenAI({ apiKey: 'unused', baseURL: `${served.url}/v1` });
  const r = await client.completions.create({ model: 'm', prompt: PROMPT, max_tokens: 32, temperature: 0 });
  const t = (r as WithTimings).timings!;
  assert.ok(t.draft_n! > 0 && t.draft_n_accepted! > 0, JSON.stringify(t));
  // (--draft-n and --draft-max both: commander once read them as one option named draftMax, and --draft-n went unread.)
  for (const flag of ['--draft-n', '--draft-max']) {
    const bad = await promisify(execFile)(process.execPath, [LUTRA_BIN, 'serve', STORIES_GGUF, '--port', '0', flag, '4'], { timeout: 30_000 }).then(() => '', (e: { stderr: string }) => e.stderr);
    assert.match(bad, /--draft-n, --draft-min, --draft-p-min and --fr-spec need a drafter/, flag);
  }
});

test('a chat session\'s drafter and context go when the session is disposed, not with the model', async () => {
  const engine = await createEngine({ model: STORIES_GGUF, ctx: 256, speculative: { draft: Q8, nDraft: 3 } });
  closers.push(() => engine.dispose());
  const drafters = () => (engine.model as unknown as { drafters: Map<unknown, unknown> }).drafters.size;
  const before = drafters();
  const session = engine.createChatSession({ ctx: 256 });
  const r = await session.send('Tell me about Lily.', { max_tokens: 16, temperature: 0 });
  assert.ok(r.timings!.draft_n! > 0);
  assert.equal(drafters(), before + 1);
  session.dispose();
  assert.equal(drafters(), before);
  await assert.rejects(session.send('again'), /disposed/);
});

test('per request: speculative.n_max 0 decodes plainly, n_max and n_min bound the drafts, out of range is refused by name', async () => {
  const engine = await createEngine({ model: STORIES_GGUF, ctx: 256, speculative: { draft: Q8, nDraft: 8 } });
  closers.push(() => engine.dispose());
  const ask = (extra: object): Promise<Completion> => engine.completions.create({ prompt: PROMPT, max_tokens: 40, temperature: 0, ...extra } as CompletionCreateParams & { stream?: false });
  const plain = await ask({ 'speculative.n_max': 0 });
  assert.equal(plain.timings!.draft_n, undefined);
  const two = await ask({ 'speculative.n_max': 2 });
  assert.equal(two.choices[0]!.text, plain.choices[0]!.text);
  const t = two.timings!;
  // At most 2 drafted per verify step, and each step emits at least one token.
  assert.ok(t.draft_n! > 0 && t.draft_n! <= 2 * t.predicted_n, JSON.stringify(t));
  const eight = await ask({});
  assert.equal(eight.choices[0]!.text, plain.choices[0]!.text);
  assert.ok(eight.timings!.draft_n! > t.draft_n!, `n_max 8 drafts more than n_max 2: ${eight.timings!.draft_n} vs ${t.draft_n}`);
  // n_min above n_max: no draft is long enough to verify, so every step is a plain one.
  const none = await ask({ 'speculative.n_max': 2, 'speculative.n_min': 3 });
  assert.equal(none.choices[0]!.text, plain.choices[0]!.text);
  assert.equal(none.timings!.draft_n, 0);
  await assert.rejects(ask({ 'speculative.n_max': -1 }), (e: { param?: string }) => e.param === 'speculative.n_max');
});

// `lutra chat` driven through pipes as a script would: slash commands never reach the model,
// /save and /load round-trip a conversation, /exit ends it, SIGINT stops a reply and the chat goes
// on (twice at the prompt quits), a conversation longer than the context keeps going; and
// `lutra run -` reads its prompt from stdin.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LUTRA_BIN, STORIES_GGUF } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'lutra-chat-'));

function lutra(args: string[], input = '') {
  const r = spawnSync(process.execPath, [LUTRA_BIN, ...args], { encoding: 'utf8', input, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Model turns the chat ran: --verbose prints one "[N cached, ...]" line per reply. */
const turns = (stderr: string) => (stderr.match(/\[\d+ cached, /g) ?? []).length;

test('slash commands are never sent to the model; /system, /reset, /save + /load round-trip, /exit', () => {
  const saved = join(dir, 'a.json'), again = join(dir, 'b.json');
  const script = ['/help', '/system Be kind.', 'Hello', `/save ${saved}`, '/reset', `/save ${join(dir, 'empty.json')}`,
    `/load ${saved}`, 'Once more', `/save ${again}`, '/frobnicate', '//slash', '/exit', 'never sent'].join('\n') + '\n';
  const r = lutra(['chat', STORIES_GGUF, '--ctx', '256', '-n', '6', '--temp', '0', '--verbose'], script);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(turns(r.stderr), 3, 'Hello, Once more and //slash');
  assert.match(r.stderr, /commands \(never sent to the model\):\n {2}\/help/);
  assert.match(r.stderr, /unknown command \/frobnicate\ncommands/);
  const a = JSON.parse(readFileSync(saved, 'utf8'));
  assert.deepEqual(a.slice(0, 2), [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Hello' }]);
  assert.equal(a.length, 3);
  assert.equal(a[2].role, 'assistant');
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'empty.json'), 'utf8')), [{ role: 'system', content: 'Be kind.' }], '/reset keeps the system message');
  const b = JSON.parse(readFileSync(again, 'utf8'));
  assert.deepEqual(b.slice(0, 3), a, '/load continued the saved conversation');
  assert.deepEqual(b[3], { role: 'user', content: 'Once more' });
  assert.ok(!r.stdout.includes('never sent') && !readFileSync(again, 'utf8').includes('/help'));

  writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ role: 'robot', content: 'x' }]));
  const bad = lutra(['chat', STORIES_GGUF, '--ctx', '128', '-n', '2'], `/load ${join(dir, 'bad.json')}\n/load ${join(dir, 'missing.json')}\nHi\n`);
  assert.equal(bad.code, 0, bad.stderr);
  assert.match(bad.stderr, /message 0: role must be system, user or assistant, got "robot"/);
  assert.match(bad.stderr, /missing\.json/);
});

test('a conversation longer than the context goes on, dropping the oldest turns', () => {
  const lines = Array.from({ length: 15 }, (_, i) => `Message ${i}: the little dog ran to the park.`).join('\n') + '\n';
  const r = lutra(['chat', STORIES_GGUF, '--ctx', '128', '-n', '24', '--temp', '0', '--system', 'Be brief.', '--verbose'], lines);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(turns(r.stderr), 15);
  assert.match(r.stderr, /lutra: context full: dropped the oldest \d+ messages \(the system message stays\)/);
  const refused = lutra(['chat', STORIES_GGUF, '--ctx', '128', '-n', '24', '--temp', '0', '--no-context-shift', '--verbose'], lines);
  assert.equal(refused.code, 0, refused.stderr);
  assert.match(refused.stderr, /does not fit the context of 128 \(\/reset, or leave out --no-context-shift\)/);
});

test('SIGINT stops a reply and the chat goes on; at the prompt, twice quits', async () => {
  const saved = join(dir, 'int.json');
  // EOS banned, so only the interrupt can end a reply this long this soon.
  const child = spawn(process.execPath, [LUTRA_BIN, 'chat', STORIES_GGUF, '--ctx', '2048', '-n', '2000', '--logit-bias', '2=-inf', '--verbose'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const until = async (what: string, ok: () => boolean) => {
    const end = Date.now() + 60_000;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    child.stdin.write('Once upon a time\n');
    await until('the reply to start', () => stdout.length > 20);
    const t0 = Date.now();
    child.kill('SIGINT');
    await until('the reply to stop', () => /\[stopped\]/.test(stderr) && stderr.trimEnd().endsWith('>'));
    assert.ok(Date.now() - t0 < 10_000);
    child.stdin.write(`/save ${saved}\n`);
    await until('the save', () => /\(saved 2 messages/.test(stderr) && stderr.trimEnd().endsWith('>'));
    const reply = JSON.parse(readFileSync(saved, 'utf8'))[1];
    assert.equal(reply.role, 'assistant');
    const tokens = lutra(['tokenize', STORIES_GGUF, '--text', reply.content, '--no-bos']);
    assert.ok(JSON.parse(tokens.stdout).length < 1900, 'the reply was cut short');
    child.kill('SIGINT');
    await until('the hint', () => /\(Ctrl-C again or \/exit to quit\)/.test(stderr));
    await new Promise((r) => setTimeout(r, 1100));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.equal(turns(stderr), 0, 'the stopped reply printed no timings');
  } finally {
    child.kill('SIGKILL');
  }
});

test('lutra run - and run -f - read the prompt from stdin', () => {
  const greedy = lutra(['run', STORIES_GGUF, '-p', 'Once upon a time', '--temp', '0', '-n', '16']);
  assert.equal(greedy.code, 0, greedy.stderr);
  const dash = lutra(['run', STORIES_GGUF, '-', '--temp', '0', '-n', '16'], 'Once upon a time');
  assert.equal(dash.code, 0, dash.stderr);
  assert.equal(dash.stdout, greedy.stdout);
  const f = lutra(['run', STORIES_GGUF, '-f', '-', '--temp', '0', '-n', '16'], 'Once upon a time');
  assert.equal(f.stdout, greedy.stdout);
  const both = lutra(['run', STORIES_GGUF, '-', '-p', 'x']);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /one prompt/);
  const warn = lutra(['run', STORIES_GGUF, '-p', 'Once', '--ctx', '4096', '-n', '1']);
  assert.match(warn.stderr, /warning: --ctx 4096 is more than the model's training context \(2048 tokens\)/);
});

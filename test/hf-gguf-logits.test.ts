// A Hugging Face folder and the GGUF it corresponds to give the same logits: stories260K is
// exported to a HF folder (Q/K rows un-permuted to HF's rotate_half layout, tokenizer.json
// written from the SentencePiece vocabulary) and loaded back through the HF path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGGUF } from '../src/formats/gguf.js';
import { exportHFFolder } from '../src/formats/hf-export.js';
import { loadModel } from '../src/runtime/model.js';
import { STORIES_GGUF } from './helpers.js';

test('HF folder and its GGUF give the same logits within 1e-4 relative, and the same tokens', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-hf-'));
  const g = parseGGUF(new Uint8Array(readFileSync(STORIES_GGUF)), STORIES_GGUF);
  await exportHFFolder(g, dir);
  const gguf = await loadModel(STORIES_GGUF, { context: { kvType: 'f32' } });
  const hf = await loadModel(dir, { context: { kvType: 'f32' } });
  assert.equal(hf.arch, 'llama');
  const text = 'Once upon a time, there was a little dog named Max.';
  const ids = gguf.tokenize(text);
  assert.deepEqual(hf.tokenize(text), ids);
  const a = gguf.createContext({ kvType: 'f32' }), b = hf.createContext({ kvType: 'f32' });
  const la = a.decode(ids, { logits: 'last' })!.slice();
  const lb = b.decode(ids, { logits: 'last' })!.slice();
  let maxDiff = 0, maxAbs = 0;
  for (let i = 0; i < la.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(la[i]! - lb[i]!)); maxAbs = Math.max(maxAbs, Math.abs(la[i]!)); }
  assert.ok(maxDiff <= 1e-4 * maxAbs, `max diff ${maxDiff} vs max |logit| ${maxAbs}`);
  let ta = '', tb = '';
  for await (const c of gguf.generate(text, { temperature: 0, maxTokens: 30 })) ta += c.text;
  for await (const c of hf.generate(text, { temperature: 0, maxTokens: 30 })) tb += c.text;
  assert.equal(tb, ta);
});

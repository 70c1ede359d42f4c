// The import layers of src/ (STYLE.md): core -> formats/quant -> kernels/tokenizer/hub -> models/grammar/vision ->
// runtime -> openai/eval/ptq/train/tools -> cli/server/web/index.ts. Reads every import of
// src/**/*.ts (static, re-export and dynamic) as text and fails listing each one that goes up a
// layer, each folder cycle, and any import of quant/ outside core/ (quant/ is codecs only).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO } from './helpers.js';

const SRC = join(REPO, 'src');

/** Lowest first; a folder may import its own layer and the ones below. `index.ts` is src/index.ts. */
const LAYERS: readonly (readonly string[])[] = [
  ['core'],
  ['formats', 'quant'],
  ['kernels', 'tokenizer', 'hub'],
  ['models', 'grammar', 'vision'],
  ['runtime'],
  ['openai', 'eval', 'ptq', 'train', 'tools'],
  ['cli', 'server', 'web', 'index.ts'],
];
/** Folders held to a narrower rule than their layer. */
const ONLY: Readonly<Record<string, readonly string[]>> = { quant: ['core'] };

const RANK = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i] as const)));
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

interface Edge { from: string; to: string; file: string; spec: string }

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The top folder under src/ of a path (or the file name for files directly in src/). */
function unit(path: string): string {
  return relative(SRC, path).split(/[\\/]/)[0]!.replace(/\.js$/, '.ts');
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const spec of new Set(Array.from(text.matchAll(IMPORT), (m) => m[1]!))) {
      const from = unit(file), to = unit(resolve(dirname(file), spec));
      if (from !== to) out.push({ from, to, file: relative(REPO, file), spec });
    }
  }
  return out;
}

/** Strongly connected components of more than one folder (Tarjan). */
function folderCycles(es: Edge[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const e of es) {
    if (!next.has(e.from)) next.set(e.from, new Set());
    next.get(e.from)!.add(e.to);
  }
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size); low.set(v, index.get(v)!);
    stack.push(v); onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return out;
}

const describe = (e: Edge) => `${e.file}: import '${e.spec}' (${e.from} -> ${e.to})`;

test('every folder of src/ has a layer', () => {
  const unknown = [...new Set(sourceFiles(SRC).map(unit))].filter((u) => !RANK.has(u));
  assert.deepEqual(unknown, [], `add these to LAYERS in test/layers.test.ts: ${unknown.join(', ')}`);
});

test('imports only go down the layers', () => {
  const es = edges();
  assert.ok(es.length > 50, `found only ${es.length} cross-folder imports: is the import pattern still right?`);
  const up = es.filter((e) => (RANK.get(e.to) ?? Infinity) > (RANK.get(e.from) ?? -1));
  const narrow = es.filter((e) => ONLY[e.from] && !ONLY[e.from]!.includes(e.to));
  const bad = [...new Set([...up, ...narrow].map(describe))];
  assert.deepEqual(bad, [], `imports against the layers:\n  ${bad.join('\n  ')}`);
});

test('no folder cycles', () => {
  const es = edges();
  const cycles = folderCycles(es).map((scc) => {
    const inside = es.filter((e) => scc.includes(e.from) && scc.includes(e.to)).map(describe);
    return `${scc.join(' <-> ')}:\n    ${inside.join('\n    ')}`;
  });
  assert.deepEqual(cycles, [], `folder cycles:\n  ${cycles.join('\n  ')}`);
});

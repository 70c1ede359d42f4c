#!/bin/sh
# Regenerates expected.json: llama.cpp's own grammar validator (tests/test-gbnf-validator.cpp,
# built with `cmake --build build --target test-gbnf-validator`) run on every grammar x string of
# cases.json. Usage: sh test/golden/grammar/make-expected.sh /path/to/llama.cpp/build/bin/test-gbnf-validator
set -eu
VALIDATOR=$1
DIR=$(cd "$(dirname "$0")" && pwd)
node - "$VALIDATOR" "$DIR" <<'JS'
const { execFileSync } = require('node:child_process');
const { readFileSync, writeFileSync, mkdtempSync } = require('node:fs');
const { join } = require('node:path');
const [validator, dir] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8'));
const tmp = mkdtempSync('/tmp/gbnf-');
const out = {};
for (const [g, strings] of Object.entries(cases)) {
  out[g] = strings.map((s, i) => {
    const f = join(tmp, `in-${i}.txt`);
    writeFileSync(f, s);
    let r;
    // The validator exits 1 when it cannot initialize the grammar.
    try { r = execFileSync(validator, [join(dir, g), f], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }); } catch (e) { r = e.stdout; }
    const verdict = r.includes('Input string is valid') ? 'valid' : r.includes('Failed to initialize') ? 'grammar-error' : 'invalid';
    return [s, verdict];
  });
}
writeFileSync(join(dir, 'expected.json'), JSON.stringify({ generator: 'llama.cpp tests/test-gbnf-validator (see make-expected.sh)', results: out }, null, 1) + '\n');
JS

// Python-call syntax of tool calls (MiniCPM4, LFM2-style pythonic): `name(key="v", n=1, xs=[1, 2])`,
// one or more calls, optionally in a list or a ```python fence. Values are Python literals (and
// JSON's true/false/null); the result is JSON arguments. Not a Python parser beyond that subset.

export interface PythonCall { name: string; args: Record<string, unknown>; positional: unknown[] }

class Reader {
  i = 0;
  constructor(readonly s: string) {}

  ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }

  fail(msg: string): never {
    throw new SyntaxError(`python call: ${msg} at offset ${this.i}`);
  }

  ident(): string {
    const m = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(this.s.slice(this.i));
    if (!m) this.fail('expecting a name');
    this.i += m[0].length;
    return m[0];
  }

  value(): unknown {
    this.ws();
    const c = this.s[this.i];
    if (c === '"' || c === "'") return this.str();
    if (c === '[' || c === '(') {
      const close = c === '[' ? ']' : ')';
      this.i++;
      const out: unknown[] = [];
      this.ws();
      while (this.s[this.i] !== close) {
        out.push(this.value());
        this.ws();
        if (this.s[this.i] === ',') { this.i++; this.ws(); } else if (this.s[this.i] !== close) this.fail(`expecting ',' or '${close}'`);
      }
      this.i++;
      return out;
    }
    if (c === '{') {
      this.i++;
      const out: Record<string, unknown> = {};
      this.ws();
      while (this.s[this.i] !== '}') {
        const k = this.value();
        this.ws();
        if (this.s[this.i] !== ':') this.fail("expecting ':'");
        this.i++;
        out[String(k)] = this.value();
        this.ws();
        if (this.s[this.i] === ',') { this.i++; this.ws(); } else if (this.s[this.i] !== '}') this.fail("expecting ',' or '}'");
      }
      this.i++;
      return out;
    }
    const m = /^(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|True|False|None|true|false|null)/.exec(this.s.slice(this.i));
    if (!m) this.fail('expecting a value');
    this.i += m[0].length;
    const w = m[0];
    return w === 'True' || w === 'true' ? true : w === 'False' || w === 'false' ? false : w === 'None' || w === 'null' ? null : Number(w);
  }

  str(): string {
    const q = this.s[this.i]!;
    const triple = this.s.startsWith(q.repeat(3), this.i);
    const end = triple ? q.repeat(3) : q;
    this.i += end.length;
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) this.fail('unterminated string');
      if (this.s.startsWith(end, this.i)) { this.i += end.length; return out; }
      const c = this.s[this.i++]!;
      if (c !== '\\') { out += c; continue; }
      const e = this.s[this.i++]!;
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '0': '\0', '\\': '\\', "'": "'", '"': '"', '/': '/', '\n': '' };
      if (e in simple) out += simple[e];
      else if (e === 'u' || e === 'x' || e === 'U') {
        const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        out += String.fromCodePoint(parseInt(this.s.slice(this.i, this.i + n), 16));
        this.i += n;
      } else out += `\\${e}`;
    }
  }

  call(): PythonCall {
    this.ws();
    const name = this.ident();
    this.ws();
    if (this.s[this.i] !== '(') this.fail("expecting '('");
    this.i++;
    const args: Record<string, unknown> = {};
    const positional: unknown[] = [];
    this.ws();
    while (this.s[this.i] !== ')') {
      const kw = /^([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)/.exec(this.s.slice(this.i));
      if (kw) { this.i += kw[0].length; args[kw[1]!] = this.value(); } else positional.push(this.value());
      this.ws();
      if (this.s[this.i] === ',') { this.i++; this.ws(); } else if (this.s[this.i] !== ')') this.fail("expecting ',' or ')'");
    }
    this.i++;
    return { name, args, positional };
  }
}

/** Calls in a block: `f(a=1)`, `[f(a=1), g()]`, one per line, in a ```python fence or not. Throws SyntaxError. */
export function parsePythonCalls(block: string): PythonCall[] {
  let s = block.trim();
  const fence = /^```(?:python|py)?\s*\n?([\s\S]*?)\n?```$/.exec(s);
  if (fence) s = fence[1]!.trim();
  const r = new Reader(s);
  const out: PythonCall[] = [];
  r.ws();
  const list = s[r.i] === '[';
  if (list) r.i++;
  for (;;) {
    r.ws();
    if (r.i >= s.length || (list && s[r.i] === ']')) break;
    out.push(r.call());
    r.ws();
    if (s[r.i] === ',' || s[r.i] === ';') r.i++;
  }
  if (list) { if (s[r.i] !== ']') r.fail("expecting ']'"); r.i++; r.ws(); }
  if (r.i < s.length) r.fail('unexpected text after the calls');
  return out;
}

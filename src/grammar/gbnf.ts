// GBNF, llama.cpp's grammar format, parsed into flat rule tables for the pushdown matcher
// (matcher.ts). Same language and rewrites as llama.cpp's llama_grammar_parser: repetitions become
// generated rules, groups become rules, left recursion and undefined rules are refused. Errors
// name the line and column. Not a matcher, not a tokenizer: `<token>` references go through a
// lookup the caller passes.

import { LutraError } from '../core/errors.js';

/** A grammar that does not parse or cannot be used (undefined rule, no root, left recursion). */
export class GrammarError extends LutraError {
  constructor(message: string) {
    super('E_GRAMMAR', message);
  }
}

/** Element types, numbered as llama.cpp's llama_gretype. */
export const END = 0, ALT = 1, RULE_REF = 2, CHAR = 3, CHAR_NOT = 4, CHAR_RNG_UPPER = 5, CHAR_ALT = 6, CHAR_ANY = 7, TOKEN = 8, TOKEN_NOT = 9;

/** As llama.cpp's MAX_REPETITION_THRESHOLD. */
const MAX_REPETITION = 2000;

export interface GrammarOptions {
  /** Resolves `<text>` token references to one token id (undefined: not a single token). */
  tokenId?: (text: string) => number | undefined;
  /** Start symbol (default "root"). */
  root?: string;
}

/**
 * A parsed grammar: every rule's elements (type, value) laid end to end, each rule ending in END.
 * A position in the matcher is an index into these arrays.
 */
export class Grammar {
  constructor(
    readonly types: Uint8Array,
    readonly values: Uint32Array,
    /** Offset of each rule's first element. */
    readonly ruleStart: Uint32Array,
    /** Rule names, generated ones as `name_3`. */
    readonly names: readonly string[],
    readonly root: number,
    /** Whether any rule references tokens (`<[id]>`, `<text>`, `!<...>`). */
    readonly hasTokens: boolean,
  ) {}

  get nRules(): number {
    return this.ruleStart.length;
  }

  /** True when the element at pos ends an alternative (END or ALT). */
  endOfSeq(pos: number): boolean {
    const t = this.types[pos]!;
    return t === END || t === ALT;
  }
}

type Rule = Array<[number, number]>;

class Parser {
  private pos = 0;
  private readonly symbols = new Map<string, number>();
  private readonly rules: (Rule | undefined)[] = [];
  /** Where each symbol was first referenced, for "undefined rule" errors. */
  private readonly firstUse = new Map<number, number>();
  private readonly defined = new Set<number>();

  constructor(private readonly src: string, private readonly opts: GrammarOptions) {}

  where(at = this.pos): string {
    let line = 1, col = 1;
    for (let i = 0; i < at && i < this.src.length; i++) {
      const c = this.src.charCodeAt(i);
      if (c === 10) { line++; col = 1; } else if (c < 0xdc00 || c > 0xdfff) col++;
    }
    return `line ${line}, column ${col}`;
  }

  fail(msg: string, at = this.pos): never {
    const near = this.src.slice(at, at + 20);
    throw new GrammarError(`grammar: ${msg} at ${this.where(at)}${near ? ` (near ${JSON.stringify(near)})` : ' (end of input)'}`);
  }

  ch(at = this.pos): string {
    return this.src[at] ?? '';
  }

  static isWord(c: string): boolean {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '-';
  }

  space(newlineOk: boolean): void {
    for (;;) {
      const c = this.ch();
      if (c === ' ' || c === '\t' || (newlineOk && (c === '\r' || c === '\n'))) this.pos++;
      else if (c === '#') { while (this.pos < this.src.length && this.ch() !== '\r' && this.ch() !== '\n') this.pos++; }
      else return;
    }
  }

  symbolId(name: string): number {
    let id = this.symbols.get(name);
    if (id === undefined) { id = this.symbols.size; this.symbols.set(name, id); }
    return id;
  }

  generateSymbol(base: string): number {
    const id = this.symbols.size;
    this.symbols.set(`${base}_${id}`, id);
    return id;
  }

  name(): string {
    const start = this.pos;
    while (Parser.isWord(this.ch())) this.pos++;
    if (this.pos === start) this.fail('expecting a rule name');
    return this.src.slice(start, this.pos);
  }

  int(): number {
    const start = this.pos;
    while (this.ch() >= '0' && this.ch() <= '9') this.pos++;
    if (this.pos === start) this.fail('expecting an integer');
    return Number(this.src.slice(start, this.pos));
  }

  hex(n: number): number {
    const start = this.pos;
    const s = this.src.slice(this.pos, this.pos + n);
    if (!/^[0-9a-fA-F]+$/.test(s) || s.length !== n) this.fail(`expecting ${n} hex digits`, start);
    this.pos += n;
    return parseInt(s, 16);
  }

  char(): number {
    if (this.pos >= this.src.length) this.fail('unexpected end of input');
    if (this.ch() === '\\') {
      const at = this.pos;
      const e = this.ch(this.pos + 1);
      this.pos += 2;
      switch (e) {
        case 'x': return this.hex(2);
        case 'u': return this.hex(4);
        case 'U': return this.hex(8);
        case 't': return 9;
        case 'r': return 13;
        case 'n': return 10;
        case '\\': case '"': case '[': case ']': case '-': return e.charCodeAt(0);
        default: this.fail(`unknown escape \\${e}`, at);
      }
    }
    const cp = this.src.codePointAt(this.pos)!;
    this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }

  token(): number {
    const at = this.pos;
    if (this.ch() !== '<') this.fail("expecting '<'");
    this.pos++;
    if (this.ch() === '[') {
      this.pos++;
      const id = this.int();
      if (this.ch() !== ']') this.fail("expecting ']'");
      this.pos++;
      if (this.ch() !== '>') this.fail("expecting '>'");
      this.pos++;
      return id;
    }
    while (this.pos < this.src.length && this.ch() !== '>') this.pos++;
    if (this.ch() !== '>') this.fail("expecting '>'");
    this.pos++;
    const text = this.src.slice(at, this.pos);
    if (!this.opts.tokenId) this.fail(`token ${text} needs a vocabulary (use <[id]> or give the grammar a tokenizer)`, at);
    const id = this.opts.tokenId(text);
    if (id === undefined) this.fail(`${text} is not a single token of the vocabulary`, at);
    return id;
  }

  addRule(id: number, rule: Rule): void {
    this.rules[id] = rule;
  }

  alternates(ruleName: string, ruleId: number, nested: boolean): void {
    const rule: Rule = [];
    this.sequence(ruleName, rule, nested);
    while (this.ch() === '|') {
      rule.push([ALT, 0]);
      this.pos++;
      this.space(true);
      this.sequence(ruleName, rule, nested);
    }
    rule.push([END, 0]);
    this.addRule(ruleId, rule);
  }

  sequence(ruleName: string, rule: Rule, nested: boolean): void {
    let lastSymStart = rule.length;
    let nPrevRules = 1;
    const repeat = (min: number, max: number, at: number) => {
      // S{m,n} -> S (m times) S'(n-m); S'(x) ::= S S'(x-1) | ; S{m,} -> S (m times) S' with S' ::= S S' |
      const noMax = max === Infinity;
      if (lastSymStart === rule.length) this.fail('expecting an item before */+/?/{', at);
      const prev = rule.slice(lastSymStart);
      const total = !noMax && max > 0 ? max : min > 0 ? min : 1;
      if (nPrevRules * total >= MAX_REPETITION) this.fail('repetition makes too many rules (over 2000)', at);
      if (min === 0) rule.length = lastSymStart;
      else for (let i = 1; i < min; i++) rule.push(...prev);
      let lastRec = 0;
      const nOpt = noMax ? 1 : max - min;
      for (let i = 0; i < nOpt; i++) {
        const rec: Rule = prev.slice();
        const recId = this.generateSymbol(ruleName);
        if (i > 0 || noMax) rec.push([RULE_REF, noMax ? recId : lastRec]);
        rec.push([ALT, 0], [END, 0]);
        this.addRule(recId, rec);
        lastRec = recId;
      }
      if (nOpt > 0) rule.push([RULE_REF, lastRec]);
      nPrevRules *= total;
    };
    for (;;) {
      const c = this.ch();
      const at = this.pos;
      if (c === '"') {
        this.pos++;
        lastSymStart = rule.length;
        nPrevRules = 1;
        while (this.ch() !== '"') {
          if (this.pos >= this.src.length) this.fail('unterminated string literal', at);
          rule.push([CHAR, this.char()]);
        }
        this.pos++;
        this.space(nested);
      } else if (c === '[') {
        this.pos++;
        let start = CHAR;
        if (this.ch() === '^') { this.pos++; start = CHAR_NOT; }
        lastSymStart = rule.length;
        nPrevRules = 1;
        while (this.ch() !== ']') {
          if (this.pos >= this.src.length) this.fail('unterminated character class', at);
          const lo = this.char();
          rule.push([lastSymStart < rule.length ? CHAR_ALT : start, lo]);
          if (this.ch() === '-' && this.ch(this.pos + 1) !== ']') {
            if (this.pos + 1 >= this.src.length) this.fail('unexpected end of input');
            this.pos++;
            rule.push([CHAR_RNG_UPPER, this.char()]);
          }
        }
        this.pos++;
        this.space(nested);
      } else if (c === '<' || c === '!') {
        let type = TOKEN;
        if (c === '!') { type = TOKEN_NOT; this.pos++; }
        const id = this.token();
        lastSymStart = rule.length;
        nPrevRules = 1;
        rule.push([type, id]);
        this.space(nested);
      } else if (Parser.isWord(c)) {
        const name = this.name();
        const id = this.symbolId(name);
        if (!this.firstUse.has(id)) this.firstUse.set(id, at);
        this.space(nested);
        lastSymStart = rule.length;
        nPrevRules = 1;
        rule.push([RULE_REF, id]);
      } else if (c === '(') {
        this.pos++;
        this.space(true);
        const before = this.symbols.size;
        const sub = this.generateSymbol(ruleName);
        this.alternates(ruleName, sub, true);
        nPrevRules = Math.max(1, this.symbols.size - before);
        lastSymStart = rule.length;
        rule.push([RULE_REF, sub]);
        if (this.ch() !== ')') this.fail("expecting ')'");
        this.pos++;
        this.space(nested);
      } else if (c === '.') {
        lastSymStart = rule.length;
        nPrevRules = 1;
        rule.push([CHAR_ANY, 0]);
        this.pos++;
        this.space(nested);
      } else if (c === '*' || c === '+' || c === '?') {
        this.pos++;
        this.space(nested);
        repeat(c === '+' ? 1 : 0, c === '?' ? 1 : Infinity, at);
      } else if (c === '{') {
        this.pos++;
        this.space(nested);
        if (!(this.ch() >= '0' && this.ch() <= '9')) this.fail('expecting an integer');
        const min = this.int();
        this.space(nested);
        let max = Infinity;
        if (this.ch() === '}') {
          max = min;
          this.pos++;
          this.space(nested);
        } else if (this.ch() === ',') {
          this.pos++;
          this.space(nested);
          if (this.ch() >= '0' && this.ch() <= '9') { max = this.int(); this.space(nested); }
          if (this.ch() !== '}') this.fail("expecting '}'");
          this.pos++;
          this.space(nested);
        } else this.fail("expecting ',' or '}'");
        if (min > MAX_REPETITION) this.fail(`repetition count ${min} is over 2000`, at);
        if (max !== Infinity && max > MAX_REPETITION) max = Infinity;
        if (max < min) this.fail(`repetition {${min},${max}}: the maximum is below the minimum`, at);
        repeat(min, max, at);
      } else return;
    }
  }

  rule(): void {
    const name = this.name();
    const at = this.pos;
    this.space(false);
    const id = this.symbolId(name);
    if (this.src.startsWith('::=', this.pos) === false) this.fail("expecting '::='");
    this.pos += 3;
    this.space(true);
    this.alternates(name, id, false);
    this.defined.add(id);
    if (this.ch() === '\r') this.pos += this.ch(this.pos + 1) === '\n' ? 2 : 1;
    else if (this.ch() === '\n') this.pos++;
    else if (this.pos < this.src.length) this.fail('expecting a newline or the end after the rule');
    void at;
    this.space(true);
  }

  parse(): Grammar {
    this.space(true);
    while (this.pos < this.src.length) this.rule();
    const names: string[] = [];
    for (const [n, id] of this.symbols) names[id] = n;
    for (let id = 0; id < this.symbols.size; id++) {
      if (!this.rules[id]) {
        const use = this.firstUse.get(id);
        throw new GrammarError(`grammar: undefined rule '${names[id]}'${use !== undefined ? ` referenced at ${this.where(use)}` : ''}`);
      }
    }
    const rootName = this.opts.root ?? 'root';
    const root = this.symbols.get(rootName);
    if (root === undefined || !this.defined.has(root)) throw new GrammarError(`grammar: no '${rootName}' rule`);
    const rules = this.rules as Rule[];
    const starts = new Uint32Array(rules.length);
    let n = 0;
    for (let i = 0; i < rules.length; i++) { starts[i] = n; n += rules[i]!.length; }
    const types = new Uint8Array(n), values = new Uint32Array(n);
    let hasTokens = false;
    rules.forEach((r, i) => r.forEach(([t, v], j) => {
      types[starts[i]! + j] = t; values[starts[i]! + j] = v;
      if (t === TOKEN || t === TOKEN_NOT) hasTokens = true;
    }));
    const g = new Grammar(types, values, starts, names, root, hasTokens);
    const left = leftRecursive(g);
    if (left !== undefined) throw new GrammarError(`grammar: left recursion through rule '${names[left]}' (the matcher needs each rule to consume a character before it recurses)`);
    return g;
  }
}

/** The first rule that can reach itself without consuming input, as llama_grammar_detect_left_recursion. */
function leftRecursive(g: Grammar): number | undefined {
  const n = g.nRules;
  const visited = new Uint8Array(n), inProgress = new Uint8Array(n), mayBeEmpty = new Uint8Array(n);
  const ruleEnd = (r: number) => {
    let p = g.ruleStart[r]!;
    while (g.types[p] !== END) p++;
    return p;
  };
  const visit = (r: number): boolean => {
    if (inProgress[r]) return true;
    inProgress[r] = 1;
    const start = g.ruleStart[r]!, end = ruleEnd(r);
    let atStart = true;
    for (let p = start; p <= end; p++) {
      if (g.endOfSeq(p)) { if (atStart) { mayBeEmpty[r] = 1; break; } atStart = true; } else atStart = false;
    }
    let recurse = true;
    for (let p = start; p <= end; p++) {
      const t = g.types[p]!;
      if (t === RULE_REF && recurse) {
        const sub = g.values[p]!;
        if (visit(sub)) return true;
        if (!mayBeEmpty[sub]) recurse = false;
      } else if (t === END || t === ALT) recurse = true;
      else recurse = false;
    }
    inProgress[r] = 0;
    visited[r] = 1;
    return false;
  };
  for (let r = 0; r < n; r++) if (!visited[r] && visit(r)) return r;
  return undefined;
}

/** Recently parsed grammars without token references, by text: a request's grammar repeats. */
const recent = new Map<string, Grammar>();
const RECENT = 32;

/**
 * Parse GBNF text. Throws GrammarError naming the line and column of the first fault. The same
 * text gives the same (immutable) Grammar while it is among the last 32 parsed, so matchers share
 * its interned states and masks.
 */
export function parseGbnf(text: string, opts: GrammarOptions = {}): Grammar {
  const key = `${opts.root ?? 'root'}\0${text}`;
  const hit = recent.get(key);
  if (hit) { recent.delete(key); recent.set(key, hit); return hit; }
  const g = new Parser(text, opts).parse();
  if (!g.hasTokens) {
    recent.set(key, g);
    if (recent.size > RECENT) recent.delete(recent.keys().next().value!);
  }
  return g;
}

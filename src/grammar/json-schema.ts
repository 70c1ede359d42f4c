// JSON Schema -> GBNF, in the manner of llama.cpp's json-schema-to-grammar: one rule per schema
// node, shared primitive rules, properties in schema order, $ref/$defs (recursive too) as rule
// references. Every keyword is either turned into grammar, or an annotation, or refused with a
// SchemaError naming it and where it is: a constraint is never dropped, so output that matches
// the grammar validates. Not a validator (see the tests, which check with ajv).

import { LutraError } from '../core/errors.js';
import { Disjointness, HIDDEN_KEYS } from './schema-disjoint.js';

export class SchemaError extends LutraError {
  constructor(message: string) {
    super('E_SCHEMA', message);
  }
}

type Schema = boolean | { [k: string]: unknown };
type Obj = { [k: string]: unknown };

/** Keywords that constrain nothing. */
const ANNOTATIONS = new Set(['$schema', '$id', '$comment', 'title', 'description', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly', 'strict', 'name', '$anchor']);
const HANDLED = new Set(['type', 'enum', 'const', 'anyOf', 'oneOf', 'allOf', '$ref', '$defs', 'definitions', 'properties', 'required', 'additionalProperties',
  'items', 'prefixItems', 'additionalItems', 'minItems', 'maxItems', 'minLength', 'maxLength', 'pattern', 'format',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'nullable']);

const SPACE = '( " " | "\\n" [ \\t]{0,20} )?';
const PRIMITIVES: Record<string, string> = {
  boolean: '("true" | "false") space',
  null: '"null" space',
  'integral-part': '[0] | [1-9] [0-9]{0,15}',
  'decimal-part': '[0-9]{1,16}',
  integer: '("-"? integral-part) space',
  number: '("-"? integral-part) ("." decimal-part)? ([eE] [-+]? [0-9]{1,2})? space',
  // Escapes \uXXXX stop short of surrogates, so every escape is one code point (minLength counts them).
  char: '[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\/bfnrt] | "u" ([0-9a-cA-CefEF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}))',
  string: '"\\"" char* "\\"" space',
  value: 'object | array | string | number | boolean | null',
  object: '"{" space ( string ":" space value ("," space string ":" space value)* )? "}" space',
  array: '"[" space ( value ("," space value)* )? "]" space',
};
const PRIMITIVE_DEPS: Record<string, string[]> = {
  integer: ['integral-part'], number: ['integral-part', 'decimal-part'], string: ['char'],
  value: ['object', 'array', 'string', 'number', 'boolean', 'null'], object: ['string', 'value'], array: ['value'],
};

/** A GBNF string literal for text. */
export function gbnfLiteral(text: string): string {
  let out = '"';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** A code point inside a GBNF character class. */
function classChar(c: number): string {
  const ch = String.fromCodePoint(c);
  if ('\\]["-^'.includes(ch)) return `\\${ch}`;
  if (c < 0x20 || c === 0x7f) return `\\x${c.toString(16).padStart(2, '0')}`;
  return ch;
}

/** Keywords that apply to each type (any other type-specific keyword beside a type is refused). */
const TYPE_KEYWORDS: Record<string, string[]> = {
  object: ['properties', 'required', 'additionalProperties'],
  array: ['items', 'prefixItems', 'additionalItems', 'minItems', 'maxItems'],
  string: ['minLength', 'maxLength', 'pattern', 'format'],
  integer: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'],
  boolean: [], null: [],
};
const ALL_TYPE_KEYWORDS = new Set(Object.values(TYPE_KEYWORDS).flat());

/** Options for schemaToGbnf. */
export interface SchemaGrammarOptions {
  /** Property order in objects (default: as in the schema). */
  propOrder?: string[];
}

class Converter {
  readonly rules = new Map<string, string>();
  private readonly refRules = new Map<string, string>();
  /** The document $refs resolve in, and the rule-name prefix of its references. */
  root: Schema = true;
  scope = '';

  fail(path: string, msg: string): never {
    throw new SchemaError(`JSON Schema at ${path.startsWith('#') ? path : `#${path}`}: ${msg}`);
  }

  add(name: string, body: string): string {
    const key = name.replace(/[^a-zA-Z0-9-]+/g, '-') || 'r';
    let n = key, i = 0;
    while (this.rules.has(n) && this.rules.get(n) !== body) n = `${key}-${++i}`;
    this.rules.set(n, body);
    return n;
  }

  primitive(name: string): string {
    if (/\bspace\b/.test(PRIMITIVES[name]!)) this.useSpace();
    if (!this.rules.has(name)) {
      this.rules.set(name, PRIMITIVES[name]!);
      for (const d of PRIMITIVE_DEPS[name] ?? []) this.primitive(d);
    }
    return name;
  }

  resolveRef(ref: string, path: string): { schema: Schema; where: string } {
    if (!ref.startsWith('#')) this.fail(path, `$ref ${JSON.stringify(ref)}: only references inside the schema (#...) are supported`);
    let cur: unknown = this.root;
    const parts = ref.slice(1).split('/').slice(1).map((p) => decodeURIComponent(p).replace(/~1/g, '/').replace(/~0/g, '~'));
    for (const p of parts) {
      if (cur === null || typeof cur !== 'object' || !(p in (cur as Obj))) this.fail(path, `$ref ${JSON.stringify(ref)} does not resolve`);
      cur = (cur as Obj)[p];
    }
    if (typeof cur !== 'boolean' && (cur === null || typeof cur !== 'object' || Array.isArray(cur))) this.fail(path, `$ref ${JSON.stringify(ref)} is not a schema`);
    return { schema: cur as Schema, where: ref };
  }

  /** The rule name (or inline expression) for a schema. */
  visit(schema: Schema, name: string, path: string): string {
    if (schema === true) return this.primitive('value');
    if (schema === false) this.fail(path, 'the schema is false: no value is valid');
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) this.fail(path, 'a schema must be an object or a boolean');
    const s = schema as Obj;
    for (const k of Object.keys(s)) {
      if (!HANDLED.has(k) && !ANNOTATIONS.has(k)) this.fail(path, `unsupported keyword '${k}'`);
    }
    if (typeof s.$ref === 'string') {
      const others = Object.keys(s).filter((k) => k !== '$ref' && !ANNOTATIONS.has(k) && k !== '$defs' && k !== 'definitions');
      if (others.length) this.fail(path, `'$ref' beside ${others.map((k) => `'${k}'`).join(', ')} is not supported`);
      return this.ref(s.$ref, path);
    }
    if (s.$ref !== undefined) this.fail(path, "'$ref' must be a string");
    const nullable = s.nullable === true;
    const body = this.visitInner(s, name, path);
    return nullable ? this.add(name, `${body} | ${this.primitive('null')}`) : body;
  }

  ref(ref: string, path: string): string {
    let rule = this.refRules.get(`${this.scope}|${ref}`);
    if (rule) return rule;
    const { schema } = this.resolveRef(ref, path);
    const base = `${this.scope}${ref === '#' ? 'root-ref' : `ref-${ref.slice(1).split('/').pop()}`}`;
    rule = this.add(base, '__pending__' + this.refRules.size);
    this.refRules.set(`${this.scope}|${ref}`, rule);
    this.rules.set(rule, this.visit(schema, base, ref));
    return rule;
  }

  visitInner(s: Obj, name: string, path: string): string {
    if (s.const !== undefined) {
      return this.add(name, `${gbnfLiteral(JSON.stringify(s.const))} space`).concat(this.useSpace());
    }
    if (s.enum !== undefined) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) this.fail(path, "'enum' must be a non-empty array");
      this.checkOnly(s, ['enum', 'type'], path);
      return this.add(name, `(${s.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(' | ')}) space`).concat(this.useSpace());
    }
    for (const kw of ['anyOf', 'oneOf'] as const) {
      if (s[kw] !== undefined) {
        const alts = s[kw];
        if (!Array.isArray(alts) || alts.length === 0) this.fail(path, `'${kw}' must be a non-empty array`);
        this.checkOnly(s, [kw, '$defs', 'definitions'], path);
        // oneOf: branches made exclusive where lutra can; a clash is reported after the branches
        // are converted (and so checked), so a malformed branch is named first.
        const plan = kw === 'oneOf' ? this.exclusive(alts as Schema[], path) : { alts: alts as Schema[], clash: undefined };
        const body = plan.alts.map((a, i) => this.visit(a, `${name}-${i}`, `${path}/${kw}/${i}`)).join(' | ');
        if (plan.clash) {
          const [i, j] = plan.clash;
          this.fail(path, `'oneOf' branches ${i} and ${j} may both match one value, and lutra cannot make the output match exactly one `
            + '(it generates oneOf only where its branches provably exclude each other: different types, a required property with different const/enum values, '
            + 'a required property the other branch forbids or does not require (object branches then leave it out), disjoint ranges or lengths); use anyOf if matching both is fine');
        }
        return this.add(name, body);
      }
    }
    if (s.allOf !== undefined) {
      if (!Array.isArray(s.allOf) || s.allOf.length === 0) this.fail(path, "'allOf' must be a non-empty array");
      return this.visit(this.mergeAllOf(s, path), name, path);
    }
    let type = s.type;
    if (Array.isArray(type)) {
      if (type.length === 0) this.fail(path, "'type' is an empty array");
      // Each branch keeps only the keywords that apply to its type (JSON Schema ignores the others for it).
      return this.add(name, type.map((t) => {
        const own = TYPE_KEYWORDS[t as string];
        const sub = Object.fromEntries(Object.entries(s).filter(([k]) => !ALL_TYPE_KEYWORDS.has(k) || own?.includes(k)));
        return this.visitInner({ ...sub, type: t }, `${name}-${t}`, path);
      }).join(' | '));
    }
    if (type === undefined) {
      if (s.properties !== undefined || s.additionalProperties !== undefined || s.required !== undefined) type = 'object';
      else if (s.items !== undefined || s.prefixItems !== undefined || s.minItems !== undefined || s.maxItems !== undefined) type = 'array';
      else if (s.minLength !== undefined || s.maxLength !== undefined || s.pattern !== undefined || s.format !== undefined) type = 'string';
      else if (['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].some((k) => s[k] !== undefined)) type = 'number';
      else return this.primitive('value');
    }
    const kws = TYPE_KEYWORDS;
    if (typeof type !== 'string' || !(type in kws)) this.fail(path, `unsupported type ${JSON.stringify(type)}`);
    const all = Object.values(kws).flat();
    for (const k of Object.keys(s)) if (all.includes(k) && !kws[type]!.includes(k)) this.fail(path, `keyword '${k}' does not apply to type '${type}'`);
    switch (type) {
      case 'object': return this.object(s, name, path);
      case 'array': return this.array(s, name, path);
      case 'string': return this.string(s, name, path);
      case 'integer': return this.numeric(s, name, path, true);
      case 'number': return this.numeric(s, name, path, false);
      default: return this.primitive(type);
    }
  }

  /**
   * oneOf is generated as the union of its branches, which is exact only when no value matches two
   * of them: each pair must be proven disjoint (schema-disjoint.ts). Where a pair is not, object
   * branches are made disjoint in the grammar where that is expressible: a property the other
   * branch requires and this one does not is left out of this branch's output (neither written as
   * an optional property nor as an additional key), so each branch's output lacks something the
   * other requires. The outputs are then a subset of each branch's values, all valid. Returns the
   * branches to generate and the first pair still not proven disjoint.
   */
  exclusive(alts: Schema[], path: string): { alts: Schema[]; clash?: [number, number] } {
    const d = new Disjointness((ref) => this.resolveRef(ref, path).schema, (s) => this.mergeAllOf(s, path));
    const out = alts.slice();
    const proven = (i: number, j: number) => {
      try {
        return d.disjoint(out[i]!, out[j]!);
      } catch {
        // A shape the prover does not follow is "not proven", never a crash; a malformed branch
        // is then reported by its conversion, with its path.
        return false;
      }
    };
    for (let i = 0; i < out.length; i++) {
      for (let j = i + 1; j < out.length; j++) {
        if (proven(i, j)) continue;
        const a = this.plainObject(out[i]!, path), b = this.plainObject(out[j]!, path);
        if (a && b && this.hideRequiredOf(a, b) && this.hideRequiredOf(b, a)) {
          out[i] = a;
          out[j] = b;
          if (proven(i, j)) continue;
        }
        return { alts: out, clash: [i, j] };
      }
    }
    return { alts: out };
  }

  /** A copy of an object-only branch (through $refs) that may be narrowed, or undefined. */
  private plainObject(s0: Schema, path: string): Obj | undefined {
    let s = s0;
    for (let n = 0; typeof s === 'object' && s !== null && typeof s.$ref === 'string'; n++) {
      if (n > 32) return undefined;
      try { s = this.resolveRef(s.$ref, path).schema; } catch { return undefined; }
    }
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return undefined;
    if (['anyOf', 'oneOf', 'allOf', 'enum', 'const', 'nullable', '$ref'].some((k) => s[k] !== undefined)) return undefined;
    const objectKw = s.properties !== undefined || s.required !== undefined || s.additionalProperties !== undefined;
    if (!(s.type === 'object' || (s.type === undefined && objectKw))) return undefined;
    if (!Array.isArray(s.required ?? []) || (s.properties !== undefined && (typeof s.properties !== 'object' || s.properties === null || Array.isArray(s.properties)))) return undefined;
    const copy: Obj = { ...s };
    const hidden = (s as { [HIDDEN_KEYS]?: string[] })[HIDDEN_KEYS];
    if (hidden) (copy as { [HIDDEN_KEYS]?: string[] })[HIDDEN_KEYS] = [...hidden];
    return copy;
  }

  /**
   * Leave out of x's output a property y requires and x does not (x's schema, as validation reads
   * it, is unchanged); false when there is none.
   */
  private hideRequiredOf(x: Obj, y: Obj): boolean {
    const xReq = new Set((x.required ?? []) as string[]);
    const key = ((y.required ?? []) as string[]).find((k) => !xReq.has(k));
    if (key === undefined) return false;
    const h = x as { [HIDDEN_KEYS]?: string[] };
    h[HIDDEN_KEYS] = [...(h[HIDDEN_KEYS] ?? []), key];
    return true;
  }

  useSpace(): string {
    this.rules.set('space', SPACE);
    return '';
  }

  checkOnly(s: Obj, allowed: string[], path: string): void {
    for (const k of Object.keys(s)) {
      if (!allowed.includes(k) && !ANNOTATIONS.has(k) && k !== 'nullable') this.fail(path, `'${k}' beside '${allowed[0]}' is not supported`);
    }
  }

  mergeAllOf(s: Obj, path: string): Obj {
    const out: Obj = {};
    const parts: Obj[] = [{ ...s, allOf: undefined }];
    (s.allOf as Schema[]).forEach((p, i) => {
      let sub = p;
      const where = `${path}/allOf/${i}`;
      while (sub && typeof sub === 'object' && typeof (sub as Obj).$ref === 'string') sub = this.resolveRef((sub as Obj).$ref as string, where).schema;
      if (sub === true) return;
      if (sub === false || sub === null || typeof sub !== 'object') this.fail(where, 'allOf item must be an object schema');
      if ((sub as Obj).allOf) sub = this.mergeAllOf(sub as Obj, where);
      parts.push(sub as Obj);
    });
    for (const p of parts) {
      for (const [k, v] of Object.entries(p)) {
        if (v === undefined || ANNOTATIONS.has(k) || k === 'additionalProperties') continue;
        if (k === 'properties') {
          const props = { ...(out.properties as Obj | undefined) };
          for (const [pk, pv] of Object.entries(v as Obj)) {
            // A property declared by several parts must match all of them.
            props[pk] = pk in props && JSON.stringify(props[pk]) !== JSON.stringify(pv) ? { allOf: [props[pk], pv] } : pv;
          }
          out.properties = props;
        } else if (k === 'required') {
          out.required = [...new Set([...((out.required as string[]) ?? []), ...(v as string[])])];
        } else if (k in out && JSON.stringify(out[k]) !== JSON.stringify(v)) {
          this.fail(path, `allOf: '${k}' is given twice with different values`);
        } else out[k] = v;
      }
    }
    // Each part checks the others' properties against its own additionalProperties: a property
    // another part declares is allowed only where every part allows it.
    const props = (out.properties ?? {}) as Obj;
    const required = new Set((out.required ?? []) as string[]);
    let ap: unknown;
    for (const p of parts) {
      const own = (p.properties ?? {}) as Obj;
      const pap = p.additionalProperties;
      if (pap === undefined || pap === true) continue;
      for (const k of Object.keys(props)) {
        if (k in own) continue;
        if (pap === false) {
          if (required.has(k)) this.fail(path, `allOf: required property '${k}' is excluded by another part's additionalProperties: false`);
          delete props[k];
        } else this.fail(path, `allOf: property '${k}' would also have to match another part's additionalProperties schema (not supported)`);
      }
      if (ap !== undefined && JSON.stringify(ap) !== JSON.stringify(pap) && ap !== false) {
        if (pap !== false) this.fail(path, 'allOf: parts give different additionalProperties schemas');
      }
      ap = pap === false ? false : ap === false ? false : pap;
    }
    if (ap !== undefined) out.additionalProperties = ap;
    return out;
  }

  object(s: Obj, name: string, path: string): string {
    this.useSpace();
    const props = (s.properties ?? {}) as Obj;
    if (typeof props !== 'object' || Array.isArray(props)) this.fail(path, "'properties' must be an object");
    if (!Array.isArray(s.required ?? []) || ((s.required ?? []) as unknown[]).some((r) => typeof r !== 'string')) this.fail(path, "'required' must be an array of strings");
    const required = new Set((s.required ?? []) as string[]);
    // Keys left out for oneOf (exclusive) are written neither as properties nor as additional keys.
    const hidden = (s as { [HIDDEN_KEYS]?: string[] })[HIDDEN_KEYS] ?? [];
    const keys = Object.keys(props).filter((k) => !hidden.includes(k));
    const ap = s.additionalProperties;
    for (const r of required) {
      if (!keys.includes(r) && ap === false) this.fail(path, `required property '${r}' is not in 'properties' and additionalProperties is false`);
    }
    // Required names not among properties take the additionalProperties schema.
    const items: { key: string; schema: Schema; required: boolean }[] = keys.map((k) => ({ key: k, schema: props[k] as Schema, required: required.has(k) }));
    for (const r of required) if (!keys.includes(r)) items.push({ key: r, schema: (ap ?? true) as Schema, required: true });
    const kv = items.map((it) => {
      const v = this.visit(it.schema, `${name}-${it.key}`, `${path}/properties/${it.key}`);
      return this.add(`${name}-${it.key}-kv`, `${gbnfLiteral(JSON.stringify(it.key))} space ":" space ${v}`);
    });
    let extra: string | undefined;
    if (ap !== false) {
      const valueRule = this.visit((ap ?? true) as Schema, `${name}-additional`, `${path}/additionalProperties`);
      const keyRule = this.add(`${name}-additional-key`, `"\\"" ${this.notStrings([...items.map((it) => it.key), ...hidden], `${name}-additional-key`)} "\\"" space`);
      extra = this.add(`${name}-additional-kv`, `${keyRule} ":" space ${valueRule}`);
    }
    // rest(i, first): properties i.. with a comma before each unless nothing came yet.
    const rest = (i: number, first: boolean): string => {
      const sep = first ? '' : '"," space ';
      if (i === items.length) {
        if (!extra) return '';
        const more = this.add(`${name}-more`, `("," space ${extra})*`);
        return first ? this.add(`${name}-rest-extra`, `(${extra} ${more})?`) : more;
      }
      const nameI = `${name}-p${i}${first ? 'f' : ''}`;
      const take = `${sep}${kv[i]} ${rest(i + 1, false)}`.trim();
      const body = items[i]!.required ? take : `${take} | ${rest(i + 1, first) || '""'}`;
      return this.add(nameI, body);
    };
    const inner = rest(0, true);
    return this.add(name, `"{" space ${inner} "}" space`);
  }

  /** JSON string contents that are none of the given strings (the keys already declared). */
  notStrings(strings: string[], name: string): string {
    this.primitive('char');
    const plain = '[^"\\\\\\x7F\\x00-\\x1F]*';
    if (strings.length === 0) return plain;
    interface Node { children: Map<string, Node>; end: boolean }
    const trie: Node = { children: new Map(), end: false };
    // Extra keys are written without escapes, so they can only collide with keys that need none.
    for (const s of strings.filter((k) => !JSON.stringify(k).includes('\\'))) {
      let n = trie;
      for (const ch of JSON.stringify(s).slice(1, -1)) {
        let c = n.children.get(ch);
        if (!c) { c = { children: new Map(), end: false }; n.children.set(ch, c); }
        n = c;
      }
      n.end = true;
    }
    // Any char not starting a trie branch then anything; or a branch char then the rest not-matched.
    const build = (n: Node, depth: number): string => {
      const alts: string[] = [];
      const chars = [...n.children.keys()].map((c) => c.codePointAt(0)!);
      const notClass = `[^"\\\\\\x7F\\x00-\\x1F${chars.map(classChar).join('')}]`;
      alts.push(`${notClass} ${plain}`);
      for (const [ch, c] of n.children) alts.push(`${gbnfLiteral(ch)} ${build(c, depth + 1)}`);
      const body = alts.join(' | ');
      // After a whole declared key, at least one more char; before it, stopping is fine.
      return this.add(`${name}-${depth}`, n.end ? body : depth === 0 ? body : `(${body})?`);
    };
    return build(trie, 0);
  }

  array(s: Obj, name: string, path: string): string {
    this.useSpace();
    let prefix: Schema[] = [];
    let items: Schema | undefined;
    if (Array.isArray(s.items)) {
      prefix = s.items as Schema[];
      items = s.additionalItems as Schema | undefined;
    } else {
      if (s.prefixItems !== undefined) {
        if (!Array.isArray(s.prefixItems)) this.fail(path, "'prefixItems' must be an array");
        prefix = s.prefixItems as Schema[];
      }
      items = s.items as Schema | undefined;
      if (s.additionalItems !== undefined) this.fail(path, "'additionalItems' needs 'items' as an array");
    }
    const minItems = this.count(s, 'minItems', path) ?? 0;
    let maxItems = this.count(s, 'maxItems', path);
    if (items === false) maxItems = Math.min(maxItems ?? prefix.length, prefix.length);
    if (maxItems !== undefined && maxItems < minItems) this.fail(path, `maxItems ${maxItems} is below minItems ${minItems}`);
    if (minItems > prefix.length && items === false) this.fail(path, `minItems ${minItems} needs more items than the ${prefix.length} prefixItems allow`);
    const p = prefix.map((x, i) => this.visit(x, `${name}-${i}`, `${path}/prefixItems/${i}`));
    const itemRule = items === false ? undefined : this.visit((items ?? true) as Schema, `${name}-item`, `${path}/items`);
    // Element k (0-based) is p[k] while k < prefix length, then itemRule.
    const elem = (k: number) => (k < p.length ? p[k]! : itemRule!);
    const max = maxItems ?? Infinity;
    if (max > 2000 && maxItems !== undefined) this.fail(path, `maxItems ${maxItems} is over 2000`);
    if (minItems > 2000) this.fail(path, `minItems ${minItems} is over 2000`);
    // tail(k): elements k.. given k already emitted (k >= 1), each preceded by ",".
    const tail = (k: number): string => {
      if (k >= max) return '';
      const optional = k >= minItems;
      if (k >= p.length && max === Infinity && k >= minItems) return this.add(`${name}-tail`, `("," space ${itemRule})*`);
      const next = tail(k + 1);
      const take = `"," space ${elem(k)} ${next}`.trim();
      return this.add(`${name}-t${k}`, optional ? `(${take})?` : take);
    };
    let inner: string;
    if (max === 0) inner = '';
    else {
      const first = `${elem(0)} ${tail(1)}`.trim();
      inner = minItems > 0 ? first : `(${first})?`;
    }
    return this.add(name, `"[" space ${inner} "]" space`);
  }

  count(s: Obj, k: string, path: string): number | undefined {
    const v = s[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(path, `'${k}' must be a non-negative integer`);
    return v;
  }

  string(s: Obj, name: string, path: string): string {
    this.useSpace();
    this.primitive('char');
    const minLength = this.count(s, 'minLength', path) ?? 0;
    const maxLength = this.count(s, 'maxLength', path);
    if (maxLength !== undefined && maxLength < minLength) this.fail(path, `maxLength ${maxLength} is below minLength ${minLength}`);
    if (s.format !== undefined) {
      if (s.pattern !== undefined || s.minLength !== undefined || s.maxLength !== undefined) this.fail(path, "'format' beside 'pattern'/'minLength'/'maxLength' is not supported");
      const f = FORMATS[s.format as string];
      if (!f) this.fail(path, `unsupported format ${JSON.stringify(s.format)} (supported: ${Object.keys(FORMATS).join(', ')})`);
      for (const [k, v] of Object.entries(FORMAT_RULES)) this.rules.set(k, v);
      return this.add(name, `"\\"" ${f} "\\"" space`);
    }
    if (s.pattern !== undefined) {
      if (typeof s.pattern !== 'string') this.fail(path, "'pattern' must be a string");
      if (s.minLength !== undefined || s.maxLength !== undefined) this.fail(path, "'pattern' beside 'minLength'/'maxLength' is not supported");
      const body = new RegexToGbnf(s.pattern, (m) => this.fail(`${path}/pattern`, m), this, name).convert();
      return this.add(name, `"\\"" ${body} "\\"" space`);
    }
    if (minLength > 2000 || (maxLength ?? 0) > 2000) this.fail(path, 'string lengths over 2000 are not supported');
    const rep = maxLength === undefined ? (minLength === 0 ? '*' : minLength === 1 ? '+' : `{${minLength},}`) : `{${minLength},${maxLength}}`;
    return name === 'string' ? this.primitive('string') : this.add(name, `"\\"" char${rep} "\\"" space`);
  }

  numeric(s: Obj, name: string, path: string, integer: boolean): string {
    this.useSpace();
    const num = (k: string) => {
      const v = s[k];
      if (v === undefined || typeof v === 'boolean') return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(path, `'${k}' must be a finite number`);
      return v;
    };
    let lo = num('minimum'), hi = num('maximum');
    let loEx = false, hiEx = false;
    const exMin = s.exclusiveMinimum, exMax = s.exclusiveMaximum;
    if (exMin === true) loEx = true;
    else if (exMin !== undefined && exMin !== false) { const v = num('exclusiveMinimum')!; if (lo === undefined || v >= lo) { lo = v; loEx = true; } }
    if (exMax === true) hiEx = true;
    else if (exMax !== undefined && exMax !== false) { const v = num('exclusiveMaximum')!; if (hi === undefined || v <= hi) { hi = v; hiEx = true; } }
    if (lo === undefined && hi === undefined) return this.primitive(integer ? 'integer' : 'number');
    if (integer) {
      let a = lo === undefined ? -Infinity : loEx ? Math.floor(lo) + 1 : Math.ceil(lo);
      let b = hi === undefined ? Infinity : hiEx ? Math.ceil(hi) - 1 : Math.floor(hi);
      if (a > b) this.fail(path, `no integer lies within the bounds`);
      if (Math.abs(a) > Number.MAX_SAFE_INTEGER || Math.abs(b) > Number.MAX_SAFE_INTEGER) {
        if (Number.isFinite(a) && Math.abs(a) > Number.MAX_SAFE_INTEGER) a = -Infinity;
        if (Number.isFinite(b) && Math.abs(b) > Number.MAX_SAFE_INTEGER) b = Infinity;
      }
      return this.add(name, `(${intRange(a, b)}) space`);
    }
    if (lo !== undefined && hi !== undefined && (lo > hi || (lo === hi && (loEx || hiEx)))) this.fail(path, 'no number lies within the bounds');
    if (Math.abs(lo ?? 0) >= 1e15 || Math.abs(hi ?? 0) >= 1e15) this.fail(path, 'number bounds beyond 1e15 are not supported');
    return this.add(name, `(${decimalRange(lo, loEx, hi, hiEx)}) space`);
  }

  /** A rule for a schema whose $refs resolve inside it; rules are named from `name`. */
  schema(schema: Schema, name: string): string {
    this.root = schema;
    this.scope = name === 'root' ? '' : `${name}-`;
    return this.visit(schema, name, '');
  }

  text(): string {
    const order = ['root', ...[...this.rules.keys()].filter((k) => k !== 'root').sort()];
    return order.map((k) => `${k} ::= ${this.rules.get(k)}`).join('\n') + '\n';
  }

  grammar(schema: Schema): string {
    const root = this.schema(schema, 'root');
    if (root !== 'root') this.rules.set('root', root);
    return this.text();
  }
}

/**
 * Several schemas (and hand-written rules) in one grammar: a tool call's arguments per function.
 * `schema()` gives the rule name for a schema; `rule()` adds GBNF; `text(root)` is the grammar.
 */
export class GbnfBuilder {
  private readonly c = new Converter();

  schema(schema: unknown, name: string): string {
    if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
      throw new SchemaError(`JSON Schema for ${name}: a schema must be an object or a boolean`);
    }
    return this.c.schema(schema as Schema, name.replace(/[^a-zA-Z0-9-]+/g, '-'));
  }

  rule(name: string, body: string): string {
    return this.c.add(name, body);
  }

  /** The `space` rule schemas use between tokens. */
  get space(): string {
    this.c.useSpace();
    return 'space';
  }

  text(rootBody: string): string {
    this.c.rules.set('root', rootBody);
    return this.c.text();
  }
}

const FORMAT_RULES: Record<string, string> = {
  'fmt-year': '[0-9]{4}',
  'fmt-leap-year': '[0-9]{2} ("0" [48] | [2468] [048] | [13579] [26]) | ("0" [48] | [2468] [048] | [13579] [26]) "00"',
  'fmt-md': '("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01]) | ("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30") | "02-" ("0" [1-9] | "1" [0-9] | "2" [0-8])',
  'fmt-date': 'fmt-year "-" fmt-md | fmt-leap-year "-02-29"',
  'fmt-time': '([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])',
  'fmt-uuid': '[0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12}',
};
const FORMATS: Record<string, string> = { date: 'fmt-date', time: 'fmt-time', 'date-time': 'fmt-date "T" fmt-time', uuid: 'fmt-uuid' };

/** Digits strings of the same length n, in [a, b] (a, b as n-digit strings, a <= b). */
function sameLen(a: string, b: string): string {
  if (a === b) return a.length ? `"${a}"` : '""';
  let i = 0;
  while (a[i] === b[i]) i++;
  const pre = a.slice(0, i) ? `"${a.slice(0, i)}" ` : '';
  const x = +a[i]!, y = +b[i]!, k = a.length - i - 1;
  const anyK = k ? ` [0-9]{${k}}` : '';
  const alts: string[] = [];
  const restA = a.slice(i + 1), restB = b.slice(i + 1);
  if (k === 0) alts.push(`[${x}-${y}]`);
  else {
    alts.push(restA === '0'.repeat(k) ? `[${x}]${anyK}` : `"${x}" (${sameLen(restA, '9'.repeat(k))})`);
    if (y - x > 1) alts.push(`[${x + 1}-${y - 1}]${anyK}`);
    alts.push(restB === '9'.repeat(k) ? `[${y}]${anyK}` : `"${y}" (${sameLen('0'.repeat(k), restB)})`);
  }
  return `${pre}(${alts.join(' | ')})`;
}

/** Non-negative integers in [a, b] (b may be Infinity) without leading zeros; undefined when none. */
function natRange(a: number, b: number): string | undefined {
  const alts: string[] = [];
  if (a === 0) { alts.push('"0"'); a = 1; }
  if (a <= b) {
    const la = String(a).length;
    if (b === Infinity) {
      alts.push(sameLen(String(a), '9'.repeat(la)));
      alts.push(`[1-9] [0-9]{${la},${Math.max(la, 15)}}`);
    } else {
      const lb = String(b).length;
      for (let n = la; n <= lb; n++) alts.push(sameLen(n === la ? String(a) : '1' + '0'.repeat(n - 1), n === lb ? String(b) : '9'.repeat(n)));
    }
  }
  return alts.length ? alts.join(' | ') : undefined;
}

/** Integers in [a, b], either end possibly infinite (a <= b). */
export function intRange(a: number, b: number): string {
  const alts: string[] = [];
  const pos = b >= 0 ? natRange(Math.max(a, 0), b) : undefined;
  if (pos) alts.push(pos);
  const neg = a < 0 ? natRange(b < 0 ? -b : 1, -a) : undefined;
  if (neg) alts.push(`"-" (${neg})`);
  return alts.join(' | ');
}

/**
 * Fraction digit strings R (value 0.R) within bounds given as digit strings (null: unbounded),
 * each bound inclusive or exclusive; nonEmpty leaves out the empty string. undefined: none.
 */
function fracRange(lo: string | null, loEx: boolean, hi: string | null, hiEx: boolean, nonEmpty: boolean): string | undefined {
  if (lo !== null) lo = lo.replace(/0+$/, '');
  if (hi !== null) hi = hi.replace(/0+$/, '');
  if (lo === '' && !loEx) lo = null;
  // Fraction digits are capped (as the number primitive's 16): a subset of the values, never endless.
  if (hi === '') return hiEx || lo !== null ? undefined : nonEmpty ? '"0"{1,16}' : '"0"{0,16}';
  if (lo === null && hi === null) return nonEmpty ? '[0-9]{1,16}' : '[0-9]{0,16}';
  if (lo === '' && hi === null) return '"0"{0,15} [1-9] [0-9]{0,15}';
  const alts: string[] = [];
  if (lo === null && !nonEmpty) alts.push('""');
  const l0 = lo === null ? -1 : lo === '' ? 0 : +lo[0]!;
  const h0 = hi === null ? 10 : +hi[0]!;
  let anyFrom = -1;
  const flush = (to: number) => {
    if (anyFrom >= 0) alts.push(`[${anyFrom}-${to}] [0-9]{0,15}`);
    anyFrom = -1;
  };
  for (let d = 0; d <= 9; d++) {
    if (d < l0 || d > h0) { flush(d - 1); continue; }
    const restLo = lo !== null && d === l0 ? lo.slice(1) : null;
    const restHi = hi !== null && d === h0 ? hi.slice(1) : null;
    if (restLo === null && restHi === null) { if (anyFrom < 0) anyFrom = d; continue; }
    flush(d - 1);
    const r = fracRange(restLo, loEx, restHi, hiEx, false);
    if (r !== undefined) alts.push(`"${d}" (${r})`);
  }
  flush(9);
  return alts.length ? alts.join(' | ') : undefined;
}

/** Decimal text of a finite non-negative number: [integer part, fraction digits]. */
function splitDecimal(x: number): [number, string] {
  let t = String(x);
  if (/e/i.test(t)) t = x.toFixed(20).replace(/0+$/, '');
  const [i, f = ''] = t.split('.');
  return [Number(i), f];
}

/** After an integer part: no fraction, or "." and digits, with the fraction within the bounds. */
function fracPart(lo: string | null, loEx: boolean, hi: string | null, hiEx: boolean): string | undefined {
  // No fraction means the value 0.0 here: allowed when 0 is within the fraction bounds.
  const loZero = lo === null || /^0*$/.test(lo), hiZero = hi !== null && /^0*$/.test(hi);
  const bare = (lo === null || (loZero && !loEx)) && !(hiZero && hiEx);
  const digits = fracRange(lo, loEx, hi, hiEx, true);
  if (digits === undefined) return bare ? '' : undefined;
  return bare ? `("." (${digits}))?` : `"." (${digits})`;
}

/** Non-negative decimals y within [lo, hi] (hi optional; bounds possibly exclusive), without an exponent. */
function posDecimal(lo: number, loEx: boolean, hi: number | undefined, hiEx: boolean): string[] {
  const [a, fa] = splitDecimal(lo);
  const alts: string[] = [];
  const at = (n: number, f: string | undefined) => { if (f !== undefined) alts.push(`"${n}" ${f}`.trim()); };
  if (hi === undefined) {
    at(a, fracPart(fa, loEx, null, false));
    alts.push(`(${natRange(a + 1, Infinity)}) ("." [0-9]{1,16})?`);
    return alts;
  }
  const [b, fb] = splitDecimal(hi);
  if (a === b) { at(a, fracPart(fa, loEx, fb, hiEx)); return alts; }
  at(a, fracPart(fa, loEx, null, false));
  const mid = natRange(a + 1, b - 1);
  if (mid) alts.push(`(${mid}) ("." [0-9]{1,16})?`);
  at(b, fracPart(null, false, fb, hiEx));
  return alts;
}

/** Decimals within the interval, each end optional and possibly exclusive. */
export function decimalRange(lo: number | undefined, loEx: boolean, hi: number | undefined, hiEx: boolean): string {
  const alts: string[] = [];
  if (hi === undefined || hi > 0 || (hi === 0 && !hiEx)) {
    const nonNeg = lo !== undefined && lo >= 0;
    alts.push(...posDecimal(nonNeg ? lo : 0, nonNeg ? loEx : false, hi, hiEx));
  }
  if (lo === undefined || lo < 0) {
    // -y with y in (max(-hi, 0), -lo]
    const within = hi !== undefined && hi < 0;
    const neg = posDecimal(within ? -hi : 0, within ? hiEx : true, lo === undefined ? undefined : -lo, loEx);
    if (neg.length) alts.push(`"-" (${neg.join(' | ')})`);
  }
  return alts.join(' | ');
}

/** ECMAScript regex (the JSON Schema subset) -> GBNF over JSON string contents. */
class RegexToGbnf {
  private i = 0;
  constructor(private src: string, private readonly fail: (m: string) => never, private readonly conv: Converter, private readonly name: string) {}

  convert(): string {
    let s = this.src;
    const start = s.startsWith('^'), end = s.endsWith('$') && !s.endsWith('\\$');
    if (start) s = s.slice(1);
    if (end) s = s.slice(0, -1);
    this.src = s;
    const body = this.alternation();
    if (this.i < s.length) this.fail(`unexpected ${JSON.stringify(s[this.i])} at offset ${this.i} of the pattern`);
    // A pattern matches anywhere in the string unless anchored.
    const any = 'char*';
    return `${start ? '' : `${any} `}(${body})${end ? '' : ` ${any}`}`;
  }

  alternation(): string {
    const alts = [this.sequence()];
    while (this.src[this.i] === '|') { this.i++; alts.push(this.sequence()); }
    return alts.join(' | ');
  }

  sequence(): string {
    const items: string[] = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') {
      let atom = this.atom();
      const q = this.src[this.i];
      if (q === '*' || q === '+' || q === '?') { this.i++; atom = `(${atom})${q}`; }
      else if (q === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
        if (!m) this.fail(`bad quantifier at offset ${this.i}`);
        this.i += m[0].length;
        atom = `(${atom}){${m[1]}${m[2] !== undefined ? `,${m[3]}` : ''}}`;
      }
      if (this.src[this.i] === '?' && /[*+?}]/.test(this.src[this.i - 1]!)) this.i++; // lazy: same language
      items.push(atom);
    }
    return items.length ? items.join(' ') : '""';
  }

  /** One char as a GBNF literal of its JSON-escaped form. */
  lit(c: number): string {
    return gbnfLiteral(JSON.stringify(String.fromCodePoint(c)).slice(1, -1));
  }

  atom(): string {
    const c = this.src[this.i]!;
    if (c === '(') {
      this.i++;
      if (this.src.startsWith('?:', this.i)) this.i += 2;
      else if (this.src[this.i] === '?') this.fail(`lookaround or named group at offset ${this.i} is not supported`);
      const body = this.alternation();
      if (this.src[this.i] !== ')') this.fail(`missing ')' at offset ${this.i}`);
      this.i++;
      return `(${body})`;
    }
    if (c === '[') return this.cls();
    if (c === '.') { this.i++; return '[^"\\\\\\x7F\\x00-\\x1F\\n\\r\\u2028\\u2029]'; }
    if (c === '^' || c === '$') this.fail(`anchor '${c}' inside the pattern is not supported`);
    if (c === '\\') {
      this.i++;
      const e = this.src[this.i++];
      if (e === undefined) this.fail('pattern ends with a backslash');
      const cls = ESC_CLASSES[e];
      if (cls) return cls;
      if ('bB'.includes(e) || /[1-9]/.test(e)) this.fail(`\\${e} is not supported in patterns`);
      return this.lit(this.escapeChar(e));
    }
    if ('*+?{'.includes(c)) this.fail(`nothing to repeat at offset ${this.i}`);
    const cp = this.src.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return this.lit(cp);
  }

  escapeChar(e: string): number {
    switch (e) {
      case 'n': return 10; case 'r': return 13; case 't': return 9; case 'f': return 12; case 'v': return 11; case '0': return 0;
      case 'x': { const h = this.src.slice(this.i, this.i + 2); this.i += 2; return parseInt(h, 16); }
      case 'u': { const h = this.src.slice(this.i, this.i + 4); this.i += 4; return parseInt(h, 16); }
      default:
        if (/[a-zA-Z]/.test(e)) this.fail(`unknown escape \\${e} in pattern`);
        return e.codePointAt(0)!;
    }
  }

  cls(): string {
    this.i++;
    let neg = false;
    if (this.src[this.i] === '^') { neg = true; this.i++; }
    const ranges: [number, number][] = [];
    const extra: string[] = [];
    let first = true;
    while (this.src[this.i] !== ']' || first) {
      first = false;
      if (this.i >= this.src.length) this.fail('unterminated character class in pattern');
      let lo: number;
      if (this.src[this.i] === '\\') {
        const e = this.src[this.i + 1]!;
        this.i += 2;
        if (ESC_RANGES[e]) { ranges.push(...ESC_RANGES[e]!); if (neg && /[DWS]/.test(e)) this.fail(`\\${e} inside a negated class is not supported`); if (/[DWS]/.test(e)) extra.push(e); continue; }
        lo = this.escapeChar(e);
      } else { lo = this.src.codePointAt(this.i)!; this.i += lo > 0xffff ? 2 : 1; }
      let hi = lo;
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']') {
        this.i++;
        if (this.src[this.i] === '\\') { const e = this.src[this.i + 1]!; this.i += 2; hi = this.escapeChar(e); }
        else { hi = this.src.codePointAt(this.i)!; this.i += hi > 0xffff ? 2 : 1; }
      }
      ranges.push([lo, hi]);
    }
    this.i++;
    const alts: string[] = [];
    // Characters JSON must escape are left out of classes (quote, backslash, controls): a subset, never invalid.
    const safe = ranges.flatMap(([a, b]) => subtractRanges([a, b], [[0, 0x1f], [0x22, 0x22], [0x5c, 0x5c], [0x7f, 0x7f]]));
    if (neg) {
      const body = ranges.map(([a, b]) => (a === b ? classChar(a) : `${classChar(a)}-${classChar(b)}`)).join('');
      return `[^"\\\\\\x7F\\x00-\\x1F${body}]`;
    }
    if (safe.length) alts.push(`[${safe.map(([a, b]) => (a === b ? classChar(a) : `${classChar(a)}-${classChar(b)}`)).join('')}]`);
    for (const e of extra) alts.push(ESC_CLASSES[e]!);
    if (!alts.length) this.fail('a character class in the pattern matches no character a JSON string can hold unescaped');
    return alts.length === 1 ? alts[0]! : `(${alts.join(' | ')})`;
  }
}

function subtractRanges(r: [number, number], minus: [number, number][]): [number, number][] {
  let out: [number, number][] = [r];
  for (const [a, b] of minus) {
    out = out.flatMap(([x, y]) => {
      if (b < x || a > y) return [[x, y]];
      const parts: [number, number][] = [];
      if (x < a) parts.push([x, a - 1]);
      if (y > b) parts.push([b + 1, y]);
      return parts;
    });
  }
  return out;
}

const ESC_RANGES: Record<string, [number, number][]> = {
  d: [[48, 57]], w: [[48, 57], [65, 90], [97, 122], [95, 95]], s: [[32, 32]],
  D: [], W: [], S: [],
};
const ESC_CLASSES: Record<string, string> = {
  d: '[0-9]', w: '[a-zA-Z0-9_]', s: '[ ]',
  D: '[^"\\\\\\x7F\\x00-\\x1F0-9]', W: '[^"\\\\\\x7F\\x00-\\x1Fa-zA-Z0-9_]', S: '[^"\\\\\\x7F\\x00-\\x1F \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]',
};

/** GBNF text for a JSON Schema. Throws SchemaError naming any keyword it cannot honour. */
export function schemaToGbnf(schema: unknown, _opts: SchemaGrammarOptions = {}): string {
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
    throw new SchemaError('JSON Schema at #: a schema must be an object or a boolean');
  }
  return new Converter().grammar(schema as Schema);
}

/** GBNF text for any JSON value of the given kind ('object' for response_format json_object). */
export function jsonGbnf(kind: 'object' | 'value' = 'object'): string {
  return schemaToGbnf(kind === 'object' ? { type: 'object' } : {});
}

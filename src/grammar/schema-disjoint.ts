// Proofs that two JSON Schemas share no value, for `oneOf`: its grammar is the union of its
// branches (as anyOf), which is exact only when no value generated from one branch also validates
// another (else the output matches two branches and fails validation). The proof is conservative:
// `false` means "not proven", and the converter then refuses the schema naming the branches.
// What it proves: different JSON types (integer within number), const/enum values the other side
// refuses, a property the generated object always has whose value the other side refuses (a
// discriminator), a property the other side requires that the generated object never has,
// disjoint numeric ranges, string lengths and array lengths; through $ref, allOf, anyOf and oneOf.

type Obj = { [k: string]: unknown };

/**
 * Keys an object schema's generated output never has (set by the converter when it narrows a
 * oneOf branch): a symbol, so that it is no JSON Schema keyword and validation ignores it.
 */
export const HIDDEN_KEYS = Symbol('keys left out of the generated object');
type Schema = boolean | Obj;

/** JSON types, with numbers split so that integer-valued numbers are their own type. */
const ALL_TYPES = ['null', 'boolean', 'object', 'array', 'string', 'integer', 'fraction'] as const;
type JType = (typeof ALL_TYPES)[number];

function typeOfValue(v: unknown): JType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  switch (typeof v) {
    case 'boolean': return 'boolean';
    case 'string': return 'string';
    case 'number': return Number.isInteger(v) ? 'integer' : 'fraction';
    default: return 'object';
  }
}

/** JSON Schema equality of values (numbers by value, object keys in any order). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => jsonEqual(x, (b as unknown[])[i]));
  const ka = Object.keys(a as Obj), kb = Object.keys(b as Obj);
  return ka.length === kb.length && ka.every((k) => k in (b as Obj) && jsonEqual((a as Obj)[k], (b as Obj)[k]));
}

const TYPE_OF_KEYWORD: [JType[], string[]][] = [
  [['object'], ['properties', 'required', 'additionalProperties']],
  [['array'], ['items', 'prefixItems', 'additionalItems', 'minItems', 'maxItems']],
  [['string'], ['minLength', 'maxLength', 'pattern', 'format']],
  [['integer', 'fraction'], ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']],
];

/** Deepest $ref / combinator nesting followed before giving up (recursive schemas). */
const MAX_DEPTH = 24;

export class Disjointness {
  /**
   * resolve: the schema a `$ref` names; merge: a schema with `allOf` as the one schema the
   * converter generates from (its mergeAllOf).
   */
  constructor(private readonly resolve: (ref: string) => Schema, private readonly merge: (s: Obj) => Obj) {}

  private deref(s: Schema, depth: number): Schema | undefined {
    while (typeof s === 'object' && typeof s.$ref === 'string') {
      if (depth++ > MAX_DEPTH) return undefined;
      s = this.resolve(s.$ref);
    }
    return s;
  }

  /** Values listed by const/enum (null added by nullable), or undefined when the schema lists none. */
  private values(s: Obj): unknown[] | undefined {
    const v = s.const !== undefined ? [s.const] : Array.isArray(s.enum) ? s.enum : undefined;
    return v && s.nullable === true ? [...v, null] : v;
  }

  /**
   * The types a schema's values can have: gen=true as the converter generates it (an untyped schema
   * with object keywords makes objects), gen=false as a validator admits them (a superset).
   */
  types(s0: Schema, gen: boolean, depth = 0): Set<JType> {
    const s = this.deref(s0, depth);
    if (s === undefined || s === true) return new Set(ALL_TYPES);
    if (s === false) return new Set();
    if (depth > MAX_DEPTH) return new Set(ALL_TYPES);
    let out: Set<JType>;
    const vals = this.values(s);
    if (vals) out = new Set(vals.map(typeOfValue));
    else if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
      out = new Set();
      for (const b of (s.anyOf ?? s.oneOf) as Schema[]) for (const t of this.types(b, gen, depth + 1)) out.add(t);
    } else if (Array.isArray(s.allOf)) {
      if (gen) return this.types(this.merge(s), true, depth + 1);
      out = this.types({ ...s, allOf: undefined }, false, depth + 1);
      for (const p of s.allOf as Schema[]) { const pt = this.types(p, false, depth + 1); for (const t of out) if (!pt.has(t)) out.delete(t); }
    } else if (s.type !== undefined) {
      out = new Set();
      for (const t of Array.isArray(s.type) ? s.type : [s.type]) {
        if (t === 'number') { out.add('integer'); out.add('fraction'); } else if ((ALL_TYPES as readonly string[]).includes(t as string)) out.add(t as JType);
      }
    } else if (gen) {
      const hit = TYPE_OF_KEYWORD.find(([, kws]) => kws.some((k) => s[k] !== undefined));
      out = new Set(hit ? hit[0] : ALL_TYPES);
    } else out = new Set(ALL_TYPES);
    if (s.nullable === true) out.add('null');
    return out;
  }

  /** Proven: no value both schemas accept (as generated from either, validated by the other). */
  disjoint(a: Schema, b: Schema): boolean {
    return this.excludes(a, b, 0) && this.excludes(b, a, 0);
  }

  /** Proven: no value generated from g validates against v. */
  excludes(g0: Schema, v0: Schema, depth: number): boolean {
    if (depth > MAX_DEPTH) return false;
    const g = this.deref(g0, depth), v = this.deref(v0, depth);
    if (g === undefined || v === undefined) return false;
    if (g === false || v === false) return true;
    if (g === true || v === true) return false;
    // Combinators: every branch of g excluded; one allOf part of v, or every branch of v, excluding.
    if (Array.isArray(g.anyOf) || Array.isArray(g.oneOf)) return ((g.anyOf ?? g.oneOf) as Schema[]).every((b) => this.excludes(b, v, depth + 1)) && (g.nullable !== true || this.fails(null, v, depth + 1));
    if (Array.isArray(g.allOf)) return this.excludes(this.merge(g), v, depth + 1);
    if (Array.isArray(v.allOf) && (v.allOf as Schema[]).some((p) => this.excludes(g, p, depth + 1))) return true;
    if (Array.isArray(v.anyOf) || Array.isArray(v.oneOf)) return ((v.anyOf ?? v.oneOf) as Schema[]).every((b) => this.excludes(g, b, depth + 1)) && (v.nullable !== true || !this.types(g, true).has('null'));
    const gv = this.values(g);
    if (gv) return gv.every((x) => this.fails(x, v, depth + 1));
    const vv = this.values(v);
    const vt = this.types(v, false);
    for (const t of this.types(g, true)) {
      if (!vt.has(t)) continue;
      if (vv) {
        // The values v lists of this type must each fail g.
        if (vv.filter((x) => typeOfValue(x) === t).every((x) => this.fails(x, g, depth + 1))) continue;
        return false;
      }
      if (!this.excludesAs(t, g, v, depth)) return false;
    }
    return true;
  }

  /** g's values of type t (g lists no values) all fail v's keywords for t. */
  private excludesAs(t: JType, g: Obj, v: Obj, depth: number): boolean {
    const num = (s: Obj, k: string) => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
    switch (t) {
      case 'integer': case 'fraction': {
        const lo = (s: Obj) => { const a = num(s, 'minimum'), b = num(s, 'exclusiveMinimum'); return b !== undefined && (a === undefined || b >= a) ? { x: b, ex: true } : a !== undefined ? { x: a, ex: false } : undefined; };
        const hi = (s: Obj) => { const a = num(s, 'maximum'), b = num(s, 'exclusiveMaximum'); return b !== undefined && (a === undefined || b <= a) ? { x: b, ex: true } : a !== undefined ? { x: a, ex: false } : undefined; };
        const below = (h: { x: number; ex: boolean } | undefined, l: { x: number; ex: boolean } | undefined) => !!h && !!l && (h.x < l.x || (h.x === l.x && (h.ex || l.ex)));
        return below(hi(g), lo(v)) || below(hi(v), lo(g));
      }
      case 'string': {
        const gMin = num(g, 'minLength') ?? 0, gMax = num(g, 'maxLength') ?? Infinity;
        const vMin = num(v, 'minLength') ?? 0, vMax = num(v, 'maxLength') ?? Infinity;
        return gMax < vMin || vMax < gMin;
      }
      case 'array': {
        const gMin = Math.max(num(g, 'minItems') ?? 0, 0), vMin = num(v, 'minItems') ?? 0;
        const closed = (s: Obj) => (s.items === false || s.additionalItems === false) && Array.isArray(s.prefixItems) ? (s.prefixItems as unknown[]).length : Infinity;
        const gMax = Math.min(num(g, 'maxItems') ?? Infinity, closed(g)), vMax = Math.min(num(v, 'maxItems') ?? Infinity, closed(v));
        return gMax < vMin || vMax < gMin;
      }
      case 'object': {
        const gp = (g.properties ?? {}) as Obj, vp = (v.properties ?? {}) as Obj;
        const gReq = new Set(Array.isArray(g.required) ? (g.required as string[]) : []);
        const vReq = Array.isArray(v.required) ? (v.required as string[]) : [];
        // A property the generated object always has, whose value v refuses (a discriminator).
        for (const p of gReq) {
          const gs = (p in gp ? gp[p] : (g.additionalProperties ?? true)) as Schema;
          const vs = (p in vp ? vp[p] : (v.additionalProperties ?? true)) as Schema;
          if (this.excludes(gs, vs, depth + 1)) return true;
        }
        // A property v requires that the generated object never has.
        const hidden = (g as { [HIDDEN_KEYS]?: string[] })[HIDDEN_KEYS] ?? [];
        if (vReq.some((p) => hidden.includes(p) || (!(p in gp) && g.additionalProperties === false))) return true;
        return false;
      }
      default: return false; // null, boolean: only listed values tell them apart
    }
  }

  /** Proven: the value does not validate against s. */
  fails(x: unknown, s0: Schema, depth: number): boolean {
    if (depth > MAX_DEPTH) return false;
    const s = this.deref(s0, depth);
    if (s === undefined) return false;
    if (s === false) return true;
    if (s === true) return false;
    if (x === null && s.nullable === true) return false;
    const t = typeOfValue(x);
    if (!this.types(s, false).has(t)) return true;
    const vals = this.values(s);
    if (vals) return !vals.some((y) => jsonEqual(x, y));
    if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) return ((s.anyOf ?? s.oneOf) as Schema[]).every((b) => this.fails(x, b, depth + 1));
    if (Array.isArray(s.allOf) && (s.allOf as Schema[]).some((p) => this.fails(x, p, depth + 1))) return true;
    if (typeof x === 'string') {
      const n = [...x].length;
      return (typeof s.minLength === 'number' && n < s.minLength) || (typeof s.maxLength === 'number' && n > s.maxLength);
    }
    if (typeof x === 'number') {
      const n = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
      const lt = (k: string) => { const b = n(k); return b !== undefined && x < b; };
      const gt = (k: string) => { const b = n(k); return b !== undefined && x > b; };
      return lt('minimum') || gt('maximum') || (n('exclusiveMinimum') !== undefined && x <= n('exclusiveMinimum')!) || (n('exclusiveMaximum') !== undefined && x >= n('exclusiveMaximum')!);
    }
    if (Array.isArray(x)) return (typeof s.minItems === 'number' && x.length < s.minItems) || (typeof s.maxItems === 'number' && x.length > s.maxItems);
    if (x !== null && typeof x === 'object') {
      const o = x as Obj, props = (s.properties ?? {}) as Obj;
      if (Array.isArray(s.required) && (s.required as string[]).some((k) => !(k in o))) return true;
      for (const [k, val] of Object.entries(o)) {
        const sub = (k in props ? props[k] : (s.additionalProperties ?? true)) as Schema;
        if (this.fails(val, sub, depth + 1)) return true;
      }
    }
    return false;
  }
}

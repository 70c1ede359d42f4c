// Chat templates: the model's Jinja template (GGUF tokenizer.chat_template or tokenizer_config.json)
// rendered with @huggingface/jinja, with the variables transformers passes (messages,
// add_generation_prompt, bos_token, eos_token, plus caller extras such as tools). Which template a
// model chats with (its own, a named built-in, a caller's, else ChatML) is resolveChatTemplate's.
// A template comes from a model file, so it is untrusted code run on the server's thread: its
// source size, evaluation steps, wall time and every value it builds are bounded (TemplateLimitError).

import { Environment as JinjaEnvironment, Interpreter as JinjaInterpreter, Template } from '@huggingface/jinja';
import { ArgumentError, LutraError, TokenizerError } from '../core/errors.js';
import { builtinChatTemplate, builtinChatTemplateNames } from './builtin-templates.js';

export interface ChatMessage { role: string; content: string }

/** Bounds on one template; the defaults are far above what real templates (a few KB, a few thousand steps) need. */
export interface ChatTemplateLimits {
  /** Characters of template source. Real templates are at most a few tens of KB. */
  maxSourceChars: number;
  /** Evaluated AST nodes per render. A Qwen3 template with tools and 100 messages takes about 10^4. */
  maxSteps: number;
  /** Wall time of one render, checked every STEPS_PER_CLOCK steps. */
  maxTimeMs: number;
  /** Characters of any one value (the output included); a list or dict counts its printed size. */
  maxStringChars: number;
  /** Elements of any one value, nested ones included (a range(), a list, a dict). */
  maxItems: number;
}

export const CHAT_TEMPLATE_LIMITS: Readonly<ChatTemplateLimits> = Object.freeze({
  maxSourceChars: 1 << 20,
  maxSteps: 1_000_000,
  maxTimeMs: 1000,
  maxStringChars: 32 << 20,
  maxItems: 1 << 20,
});

const STEPS_PER_CLOCK = 1024;
/** Distinct templates kept parsed (the model's own, plus a few passed per request). */
const CACHE_SIZE = 8;

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  extra?: Record<string, unknown>;
  /** Where the template came from, for error messages (default tokenizer.chat_template). */
  name?: string;
  limits?: Partial<ChatTemplateLimits>;
}

/** The model's chat template went past one of its bounds: the model's fault, not the request's. */
export class TemplateLimitError extends LutraError {
  readonly limit: keyof ChatTemplateLimits | 'recursion';
  constructor(limit: keyof ChatTemplateLimits | 'recursion', message: string) {
    super('E_TEMPLATE_LIMIT', message);
    this.limit = limit;
  }
}

type Value = { type: string; value: unknown };
type Node = { type: string; [k: string]: unknown };
// The package's typings re-export its runtime classes from paths NodeNext cannot resolve: the shapes used here.
interface Environment { set(name: string, value: unknown): unknown; lookupVariable(name: string): unknown }
interface InterpreterApi { evaluate(node: unknown, env: Environment): Value; run(program: unknown): Value }
const Environment = JinjaEnvironment as unknown as new (parent?: Environment) => Environment;
const Interpreter = JinjaInterpreter as unknown as new (env: Environment) => InterpreterApi;
interface Size { chars: number; items: number; depth: number }

/** The library's runtime classes are not exported; take them from values it builds. */
const probe = new Environment();
probe.set('s', '');
probe.set('f', () => null);
const StringValue = (probe.lookupVariable('s') as object).constructor as new (s: string) => Value;
const FunctionValue = (probe.lookupVariable('f') as object).constructor as new (fn: (args: Value[], env: Environment) => Value) => Value;

/** An Interpreter that counts steps, watches the clock and measures every value it produces. */
class BoundedInterpreter extends Interpreter {
  private steps = 0;
  private nextClock = STEPS_PER_CLOCK;
  /** Iterable expressions of the for loops being entered. */
  private readonly iterables = new Set<Node>();
  private readonly deadline: number;
  /** Printed size of immutable containers (lists, dicts, strings); namespaces mutate, so are measured afresh. */
  private readonly sizes = new WeakMap<object, Size>();

  constructor(env: Environment, private readonly lim: ChatTemplateLimits, private readonly what: string) {
    super(env);
    this.deadline = performance.now() + lim.maxTimeMs;
  }

  fail(limit: keyof ChatTemplateLimits, detail: string): never {
    throw new TemplateLimitError(limit, `${this.what} exceeded ${detail}`);
  }

  override evaluate(statement: unknown, environment: Environment): Value {
    this.charge(1);
    const node = statement as Node | undefined;
    if (node?.type === 'For') {
      // The library sets up a scope per element before running the body: charge the elements up front.
      const it = node.iterable as Node;
      this.iterables.add(it.type === 'SelectExpression' ? it.lhs as Node : it);
    }
    const v = (node?.type === 'MemberExpression' ? this.member(node, environment) : undefined)
      ?? super.evaluate(statement, environment);
    this.check(v);
    if (node && this.iterables.delete(node)) {
      this.charge(Array.isArray(v.value) ? v.value.length : v.value instanceof Map ? v.value.size : 0);
    }
    return v;
  }

  private charge(steps: number): void {
    this.steps += steps;
    if (this.steps > this.lim.maxSteps) this.fail('maxSteps', `${this.lim.maxSteps} evaluation steps`);
    if (this.steps >= this.nextClock) {
      this.nextClock = this.steps + STEPS_PER_CLOCK;
      if (performance.now() > this.deadline) this.fail('maxTimeMs', `${this.lim.maxTimeMs} ms of rendering`);
    }
  }

  /** The printed size of a value, and its element count and depth; fails past the limits. */
  check(v: Value): Size {
    const t = v.type;
    if (t === 'StringValue') {
      const chars = (v.value as string).length;
      if (chars > this.lim.maxStringChars) this.fail('maxStringChars', `${this.lim.maxStringChars} characters in one string (got ${chars})`);
      return { chars: chars + 2, items: 1, depth: 0 };
    }
    const container = t === 'ArrayValue' || t === 'TupleValue' || t === 'ObjectValue' || t === 'KeywordArgumentsValue' || t === 'NamespaceValue';
    if (!container) return { chars: 24, items: 1, depth: 0 };
    const known = this.sizes.get(v);
    if (known) return known;
    const s: Size = { chars: 2, items: 1, depth: 0 };
    if (Array.isArray(v.value)) {
      for (const x of v.value as Value[]) this.add(s, this.check(x), 2);
    } else {
      for (const [k, x] of v.value as Map<string, Value>) this.add(s, this.check(x), k.length + 4);
    }
    if (s.items > this.lim.maxItems) this.fail('maxItems', `${this.lim.maxItems} elements in one value (got ${s.items})`);
    if (s.chars > this.lim.maxStringChars) this.fail('maxStringChars', `${this.lim.maxStringChars} characters in one value (got ${s.chars})`);
    if (t !== 'NamespaceValue') this.sizes.set(v, s);
    return s;
  }

  private add(s: Size, child: Size, extra: number): void {
    s.chars += child.chars + extra;
    s.items += child.items;
    s.depth = Math.max(s.depth, child.depth + 1);
  }

  /** `s.replace(old, new)` can multiply a string in one step: bound it before it runs. */
  private member(node: Node, environment: Environment): Value | undefined {
    const prop = node.property as Node;
    if (node.computed || prop.type !== 'Identifier' || prop.value !== 'replace') return undefined;
    const object = this.evaluate(node.object, environment);
    if (object.type !== 'StringValue') return undefined;
    const s = object.value as string;
    const original = (object as unknown as { builtins: Map<string, Value> }).builtins.get('replace')!;
    const call = original.value as (args: Value[], env: Environment) => Value;
    return new FunctionValue((args, env) => {
      const [from, to] = args;
      if (from?.type === 'StringValue' && to?.type === 'StringValue') {
        const a = from.value as string, b = to.value as string;
        const grow = b.length - a.length;
        if (grow > 0 && s.length + (s.length + 1) * grow > this.lim.maxStringChars) {
          let n = 0;
          if (a === '') n = s.length + 1;
          else for (let i = s.indexOf(a); i >= 0; i = s.indexOf(a, i + a.length)) n++;
          if (s.length + n * grow > this.lim.maxStringChars) this.fail('maxStringChars', `${this.lim.maxStringChars} characters in one string (replace() would make ${s.length + n * grow})`);
        }
      }
      return call(args, env);
    });
  }

  /** Filters that print or pad (indent, join, tojson with indent) are bounded before they run. */
  applyFilterBounded(operand: Value, filter: Node, environment: Environment): Value {
    if (filter.type === 'CallExpression' && (filter.callee as Node).type === 'Identifier') {
      const name = (filter.callee as Node).value;
      if (name === 'indent' || name === 'join' || name === 'tojson') {
        const [args, kwargs] = (this as unknown as { evaluateArguments(a: unknown, e: Environment): [Value[], Map<string, Value>] })
          .evaluateArguments(filter.args, environment);
        const size = this.check(operand);
        let bound = 0;
        if (name === 'indent') {
          const width = args[0] ?? kwargs.get('width');
          const lines = operand.type === 'StringValue' ? (operand.value as string).split('\n').length : 1;
          bound = size.chars + lines * (typeof width?.value === 'number' ? Math.max(0, width.value) : 4);
        } else if (name === 'join') {
          const sep = args[0] ?? kwargs.get('separator');
          bound = size.chars + size.items * (typeof sep?.value === 'string' ? sep.value.length : 0);
        } else {
          const indent = kwargs.get('indent');
          bound = size.chars + size.items * (size.depth + 1) * (typeof indent?.value === 'number' ? Math.max(0, indent.value) + 1 : 0);
        }
        if (bound > this.lim.maxStringChars) this.fail('maxStringChars', `${this.lim.maxStringChars} characters in one string (${name} would make up to ${bound})`);
      }
    }
    return (Interpreter.prototype as unknown as { applyFilter: (o: Value, f: Node, e: Environment) => Value }).applyFilter.call(this, operand, filter, environment);
  }
}
// applyFilter is private in the library's typings, so the override is attached here.
(BoundedInterpreter.prototype as unknown as { applyFilter: unknown }).applyFilter = BoundedInterpreter.prototype.applyFilterBounded;

/** The globals @huggingface/jinja's Template.render sets, with range() bounded. */
function setupGlobals(env: Environment, interp: () => BoundedInterpreter, lim: ChatTemplateLimits): void {
  env.set('false', false);
  env.set('true', true);
  env.set('none', null);
  env.set('False', false);
  env.set('True', true);
  env.set('None', null);
  env.set('raise_exception', (msg: unknown) => { throw new TemplateRaised(String(msg)); });
  env.set('range', (start: number, stop?: number, step = 1) => {
    if (stop === undefined) { stop = start; start = 0; }
    if (step === 0) throw new Error('range() step must not be zero');
    const n = Math.max(0, Math.ceil((stop - start) / step));
    if (!(n <= lim.maxItems)) interp().fail('maxItems', `${lim.maxItems} elements in one value (range() of ${n})`);
    return Array.from({ length: n }, (_, i) => start + i * step);
  });
  env.set('strftime_now', (format: string) => strftime(new Date(), format));
}

function strftime(date: Date, format: string): string {
  const pad2 = (n: number) => (n < 10 ? '0' : '') + n;
  return format.replace(/%[YmdbBHM%]/g, (token) => {
    switch (token) {
      case '%Y': return String(date.getFullYear());
      case '%m': return pad2(date.getMonth() + 1);
      case '%d': return pad2(date.getDate());
      case '%b': return new Intl.DateTimeFormat(undefined, { month: 'short' }).format(date);
      case '%B': return new Intl.DateTimeFormat(undefined, { month: 'long' }).format(date);
      case '%H': return pad2(date.getHours());
      case '%M': return pad2(date.getMinutes());
      default: return '%';
    }
  });
}

const compiled = new Map<string, Template>();

function parseTemplate(template: string, what: string, lim: ChatTemplateLimits): Template {
  let t = compiled.get(template);
  if (t) {
    compiled.delete(template);
    compiled.set(template, t);
    return t;
  }
  if (template.length > lim.maxSourceChars) {
    throw new TemplateLimitError('maxSourceChars', `${what} is ${template.length} characters, over the limit of ${lim.maxSourceChars}`);
  }
  try {
    t = new Template(template);
  } catch (e) {
    if (e instanceof RangeError) throw new TemplateLimitError('recursion', `${what} nests too deeply to parse: ${e.message}`);
    throw new TokenizerError(`${what} does not parse: ${(e as Error).message}`);
  }
  compiled.set(template, t);
  if (compiled.size > CACHE_SIZE) compiled.delete(compiled.keys().next().value!);
  return t;
}

export function renderChatTemplate(template: string, messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
  const lim: ChatTemplateLimits = { ...CHAT_TEMPLATE_LIMITS, ...opts.limits };
  const what = `chat template (${opts.name ?? 'tokenizer.chat_template'})`;
  const t = parseTemplate(template, what, lim);
  const env = new Environment();
  let interp: BoundedInterpreter | undefined;
  try {
    setupGlobals(env, () => interp!, lim);
    const vars: Record<string, unknown> = {
      ...opts.extra,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: opts.bosToken ?? '',
      eos_token: opts.eosToken ?? '',
    };
    for (const [k, v] of Object.entries(vars)) env.set(k, v);
    interp = new BoundedInterpreter(env, lim, what);
    return interp.run(t.parsed).value as string;
  } catch (e) {
    if (e instanceof LutraError) throw e;
    // The template's own raise_exception refuses the conversation (roles out of order, a role it
    // does not know): the caller's messages are at fault, not the model.
    if (e instanceof TemplateRaised) throw new ArgumentError(`${what} refused the messages: ${e.message}`);
    // A string past V8's own limit (a loop printing a large string many times), or the stack.
    if (e instanceof RangeError) {
      if (/string length/i.test(e.message)) throw new TemplateLimitError('maxStringChars', `${what} exceeded the engine's longest string`);
      throw new TemplateLimitError('recursion', `${what} failed: ${e.message}`);
    }
    throw new TokenizerError(`${what} failed to render: ${(e as Error).message}`);
  }
}

/** What a template's raise_exception(...) throws: the template refusing its input. */
class TemplateRaised extends Error {}

/** The template of a model, or a TokenizerError naming the model and the missing key. */
export function requireChatTemplate(template: string | undefined, model: string): string {
  if (!template) throw new TokenizerError(`model ${model} has no chat template (tokenizer.chat_template)`);
  return template;
}

/** Where the template a model chats with came from; 'fallback' means the model has none and nobody chose one (its family's built-in or ChatML). */
export type ChatTemplateSource = 'model' | 'builtin' | 'custom' | 'fallback';

export interface ResolvedChatTemplate {
  /** Jinja source. */
  template: string;
  source: ChatTemplateSource;
  /** For messages: the built-in's name, 'custom', or tokenizer.chat_template. */
  name: string;
  /** With source 'fallback': the family (general.architecture) whose built-in this is, if not plain ChatML. */
  family?: string;
}

/** What a model without a template of its own chats with. */
export const FALLBACK_CHAT_TEMPLATE = 'chatml';

/** Jinja source rather than a built-in's name: it has a tag, an expression or a comment. */
export function isChatTemplateSource(s: string): boolean {
  return /\{[{%#]/.test(s);
}

/**
 * The template a model chats with. A chosen one (a built-in's name or Jinja source) wins over the
 * model's own, as llama.cpp's --chat-template does; without either, the family's built-in
 * (`family`: general.architecture and the built-in familyChatTemplate named for it) or else ChatML,
 * both with source 'fallback' so the caller can say so. An unknown name is refused listing the
 * built-ins; Jinja source is parsed now so that a typo fails before the first message, not during it.
 */
export function resolveChatTemplate(own: string | undefined, chosen?: string, family?: { arch: string; template: string | undefined }): ResolvedChatTemplate {
  if (chosen !== undefined) {
    if (isChatTemplateSource(chosen)) {
      try {
        parseTemplate(chosen, 'chat template (custom)', CHAT_TEMPLATE_LIMITS);
      } catch (e) {
        if (e instanceof TokenizerError) throw new ArgumentError(e.message);
        throw e;
      }
      return { template: chosen, source: 'custom', name: 'custom' };
    }
    const b = builtinChatTemplate(chosen);
    if (!b) throw new ArgumentError(`unknown chat template ${JSON.stringify(chosen)}; built-in templates: ${builtinChatTemplateNames().join(', ')} (or give a Jinja template)`);
    return { template: b.source, source: 'builtin', name: b.name };
  }
  if (own) return { template: own, source: 'model', name: 'tokenizer.chat_template' };
  const fam = family?.template === undefined ? undefined : builtinChatTemplate(family.template);
  if (fam) return { template: fam.source, source: 'fallback', name: fam.name, family: family!.arch };
  return { template: builtinChatTemplate(FALLBACK_CHAT_TEMPLATE)!.source, source: 'fallback', name: FALLBACK_CHAT_TEMPLATE };
}

/** The line a front end prints when a model has no template of its own: what it chats with instead. */
export function fallbackTemplateNote(file: string, t: ResolvedChatTemplate): string {
  const why = t.family ? `, the ${t.family} family's built-in` : '';
  return `${file} has no chat template; using ${t.name}${why} (choose one with --chat-template NAME|FILE)`;
}

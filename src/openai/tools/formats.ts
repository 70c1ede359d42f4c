// Tool-call formats per template family: how a model writes calls, how to read them back (the
// same splitter serves streamed and whole replies, so streamed arguments concatenate to exactly
// the non-streamed ones), the GBNF that forces a call, and how to write past calls into a prompt
// for templates that do not render `tool_calls` themselves.
//   hermes   <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>   Qwen2.5, Qwen3 (also after <think>)
//   minicpm4 <|tool_call_start|>```python\nf(a=1)\n```<|tool_call_end|>      MiniCPM4 (Python-call syntax)
//   llama3   {"name": ..., "parameters": {...}} (after <|python_tag|> or alone)  Llama 3.x

import { type GbnfBuilder, gbnfLiteral, SchemaError } from '../../grammar/index.js';
import { heldBack } from '../../runtime/text-stream.js';
import { parsePythonCalls } from './python-call.js';

export interface ToolDef { name: string; description?: string; parameters?: unknown; strict?: boolean | null }

/** One parsed call; `arguments` is JSON text. */
export interface ParsedCall { name: string; arguments: string }

export type SplitEvent = { content: string } | { call: ParsedCall };

export interface ToolFormat {
  readonly name: 'hermes' | 'minicpm4' | 'llama3';
  /** Texts that open a call block. */
  readonly openers: readonly string[];
  /** The text that closes a call block (none: the block runs to the end of the reply). */
  readonly closer: string | undefined;
  /** Openers count only at the very start of the reply (llama3's bare JSON). */
  readonly startOnly?: readonly string[];
  /** Calls in one block (text between opener and closer, opener included). Throws when it is not a call. */
  parseBlock(block: string, tools: readonly ToolDef[]): ParsedCall[];
  /** GBNF for one call of `name` with these parameters; `marker(text)` gives a marker's GBNF (a token when it is one). */
  callGrammar(name: string, b: GbnfBuilder, parameters: unknown, marker: (text: string) => string): string;
  /** GBNF between two calls of a parallel reply. */
  readonly between: string;
  /** Past calls as the model would have written them. */
  write(calls: readonly { name: string; arguments: unknown }[]): string;
}

function argsText(v: unknown): string {
  if (v === undefined || v === null) return '{}';
  if (typeof v === 'string') {
    // Some models write arguments as a JSON string; keep it when it is one, as OpenAI sends it.
    try { return JSON.stringify(JSON.parse(v)); } catch { return JSON.stringify(v); }
  }
  return JSON.stringify(v);
}

function jsonCall(body: string, argKeys: string[]): ParsedCall {
  const o = JSON.parse(body) as Record<string, unknown>;
  if (!o || typeof o !== 'object' || Array.isArray(o) || typeof o.name !== 'string') throw new SyntaxError('not a {"name": ...} object');
  const key = argKeys.find((k) => k in o);
  return { name: o.name, arguments: argsText(key ? o[key] : {}) };
}

export const HERMES: ToolFormat = {
  name: 'hermes',
  openers: ['<tool_call>'],
  closer: '</tool_call>',
  parseBlock(block) {
    const body = block.slice('<tool_call>'.length).replace(/<\/tool_call>$/, '').trim();
    return [jsonCall(body, ['arguments', 'parameters'])];
  },
  callGrammar(name, b, parameters, marker) {
    const args = b.schema(parameters ?? { type: 'object' }, `${name}-args`);
    return `${marker('<tool_call>')} ${gbnfLiteral(`\n{"name": ${JSON.stringify(name)}, "arguments": `)} ${args} ${gbnfLiteral('}\n')} ${marker('</tool_call>')}`;
  },
  between: '"\\n"',
  write(calls) {
    return calls.map((c) => `<tool_call>\n${JSON.stringify({ name: c.name, arguments: c.arguments })}\n</tool_call>`).join('\n');
  },
};

export const MINICPM4: ToolFormat = {
  name: 'minicpm4',
  openers: ['<|tool_call_start|>'],
  closer: '<|tool_call_end|>',
  parseBlock(block, tools) {
    const body = block.slice('<|tool_call_start|>'.length).replace(/<\|tool_call_end\|>$/, '');
    const t = body.trim();
    if (t.startsWith('{') || t.startsWith('[{')) {
      const v = JSON.parse(t) as unknown;
      return (Array.isArray(v) ? v : [v]).map((x) => jsonCall(JSON.stringify(x), ['arguments', 'parameters']));
    }
    return parsePythonCalls(body).map((c) => {
      const params = Object.keys(((tools.find((d) => d.name === c.name)?.parameters ?? {}) as { properties?: object }).properties ?? {});
      const args: Record<string, unknown> = {};
      c.positional.forEach((v, i) => {
        if (i >= params.length) throw new SyntaxError(`${c.name}: positional argument ${i + 1} has no parameter`);
        args[params[i]!] = v;
      });
      return { name: c.name, arguments: JSON.stringify({ ...args, ...c.args }) };
    });
  },
  callGrammar(name, b, parameters, marker) {
    // Keyword arguments in the schema's property order, values written as JSON (Python reads JSON's
    // strings and numbers; the parser also takes true/false/null).
    const p = (parameters ?? { type: 'object' }) as { properties?: Record<string, unknown>; required?: string[]; type?: unknown };
    if (typeof p !== 'object' || (p.type !== undefined && p.type !== 'object')) throw new SchemaError(`tool ${name}: parameters must be an object schema`);
    const props = Object.entries(p.properties ?? {});
    const required = new Set(p.required ?? []);
    const kv = props.map(([k, v]) => `${gbnfLiteral(`${k}=`)} ${b.schema(v, `${name}-${k}`)}`);
    const rest = (i: number, first: boolean): string => {
      if (i === props.length) return '""';
      const take = `${first ? '' : '", " '}${kv[i]} ${rest(i + 1, false)}`;
      return b.rule(`${name}-kw${i}${first ? 'f' : ''}`, required.has(props[i]![0]) ? take : `${take} | ${rest(i + 1, first)}`);
    };
    return `${marker('<|tool_call_start|>')} ${gbnfLiteral('```python\n')} ${gbnfLiteral(name)} "(" ${rest(0, true)} ")" ${gbnfLiteral('\n```')} ${marker('<|tool_call_end|>')}`;
  },
  between: '"\\n"',
  write(calls) {
    const py = (v: unknown): string => (v === true ? 'True' : v === false ? 'False' : v === null ? 'None'
      : Array.isArray(v) ? `[${v.map(py).join(', ')}]`
        : typeof v === 'object' ? `{${Object.entries(v as object).map(([k, x]) => `${JSON.stringify(k)}: ${py(x)}`).join(', ')}}` : JSON.stringify(v));
    return calls.map((c) => {
      const a = (typeof c.arguments === 'string' ? JSON.parse(c.arguments) : c.arguments ?? {}) as Record<string, unknown>;
      return `<|tool_call_start|>\`\`\`python\n${c.name}(${Object.entries(a).map(([k, v]) => `${k}=${py(v)}`).join(', ')})\n\`\`\`<|tool_call_end|>`;
    }).join('\n');
  },
};

export const LLAMA3: ToolFormat = {
  name: 'llama3',
  openers: ['<|python_tag|>'],
  startOnly: ['{"name"', '{ "name"'],
  closer: undefined,
  parseBlock(block) {
    const body = block.replace(/^<\|python_tag\|>/, '').trim().replace(/<\|eom_id\|>$/, '').trim();
    // One call, or several separated by ';' or newlines.
    try { return [jsonCall(body, ['parameters', 'arguments'])]; } catch { /* try a list */ }
    return body.split(/;\s*|\n+(?=\{)/).filter((x) => x.trim()).map((x) => jsonCall(x.trim(), ['parameters', 'arguments']));
  },
  callGrammar(name, b, parameters) {
    const args = b.schema(parameters ?? { type: 'object' }, `${name}-args`);
    return `${gbnfLiteral(`{"name": ${JSON.stringify(name)}, "parameters": `)} ${args} "}"`;
  },
  between: '"; "',
  write(calls) {
    return calls.map((c) => JSON.stringify({ name: c.name, parameters: typeof c.arguments === 'string' ? JSON.parse(c.arguments) : c.arguments })).join('; ');
  },
};

export const TOOL_FORMATS: readonly ToolFormat[] = [HERMES, MINICPM4, LLAMA3];

/** The format a chat template writes calls in (Hermes when the template says nothing: lutra's own prompt uses it). */
export function toolFormatFor(template: string): ToolFormat {
  if (template.includes('<|tool_call_start|>')) return MINICPM4;
  if (template.includes('<tool_call>')) return HERMES;
  if (template.includes('<|python_tag|>') || (template.includes('<|start_header_id|>') && /"parameters"/.test(template))) return LLAMA3;
  return HERMES;
}

/**
 * Splits generated text into content and tool calls as it arrives: text that may be the start of
 * an opener is held back, a call block is held until its closer (or the end), then parsed; a block
 * that does not parse is given back as content. A `<think>` block is content: no calls inside it.
 */
export class ToolCallSplitter {
  private buf = '';
  private inBlock = false;
  private atStart = true;
  private thinking = false;
  /** Where to look for the next closer in a held block (earlier ones did not end a call). */
  private scanFrom = 0;
  calls = 0;

  constructor(readonly format: ToolFormat, readonly tools: readonly ToolDef[]) {}

  push(text: string): SplitEvent[] {
    this.buf += text;
    return this.drain(false);
  }

  end(): SplitEvent[] {
    return this.drain(true);
  }

  private drain(final: boolean): SplitEvent[] {
    const out: SplitEvent[] = [];
    const content = (s: string) => {
      if (!s) return;
      if (this.atStart && /\S/.test(s)) this.atStart = false;
      out.push({ content: s });
    };
    for (;;) {
      if (this.inBlock) {
        // The first closer after which the block parses (a closer may sit inside a JSON string).
        const f = this.format;
        let calls: ParsedCall[] | undefined, end = -1;
        const attempt = (at: number) => {
          try { calls = f.parseBlock(this.buf.slice(0, at), this.tools); } catch { calls = undefined; }
          if (calls && !calls.length) calls = undefined;
          if (calls) end = at;
        };
        if (f.closer !== undefined) {
          for (let k = this.buf.indexOf(f.closer, this.scanFrom); k >= 0 && !calls; k = this.buf.indexOf(f.closer, k + 1)) attempt(k + f.closer.length);
          if (!calls) this.scanFrom = Math.max(0, this.buf.length - f.closer.length + 1);
        }
        if (!calls && !final) return out;
        if (!calls) attempt(this.buf.length);
        if (!calls) end = this.buf.length;
        const block = this.buf.slice(0, end);
        this.buf = this.buf.slice(end);
        this.inBlock = false;
        this.scanFrom = 0;
        if (calls) { for (const c of calls) out.push({ call: c }); this.calls += calls.length; this.atStart = false; }
        else content(block);
        continue;
      }
      if (this.thinking) {
        const k = this.buf.indexOf('</think>');
        if (k < 0) {
          const keep = final ? 0 : heldBack(this.buf, ['</think>']);
          content(this.buf.slice(0, this.buf.length - keep));
          this.buf = this.buf.slice(this.buf.length - keep);
          return out;
        }
        content(this.buf.slice(0, k + 8));
        this.buf = this.buf.slice(k + 8);
        this.thinking = false;
        continue;
      }
      const openers = [...this.format.openers, '<think>'];
      const lead = this.atStart ? this.buf.length - this.buf.trimStart().length : -1;
      let at = -1, which = '';
      for (const o of openers) { const k = this.buf.indexOf(o); if (k >= 0 && (at < 0 || k < at)) { at = k; which = o; } }
      if (lead >= 0) {
        for (const o of this.format.startOnly ?? []) if (this.buf.startsWith(o, lead) && (at < 0 || lead < at)) { at = lead; which = o; }
      }
      if (at >= 0) {
        content(this.buf.slice(0, at));
        this.buf = this.buf.slice(at);
        if (which === '<think>') { content('<think>'); this.buf = this.buf.slice(7); this.thinking = true; } else this.inBlock = true;
        continue;
      }
      let keep = final ? 0 : heldBack(this.buf, openers);
      if (!final && lead >= 0 && this.format.startOnly) {
        const rest = this.buf.slice(lead);
        if (this.format.startOnly.some((o) => o.startsWith(rest))) keep = this.buf.length;
      }
      content(this.buf.slice(0, this.buf.length - keep));
      this.buf = this.buf.slice(this.buf.length - keep);
      return out;
    }
  }
}

/** A whole reply: its content (calls taken out, surrounding whitespace trimmed) and its calls. */
export function parseToolCalls(text: string, format: ToolFormat, tools: readonly ToolDef[]): { content: string; calls: ParsedCall[] } {
  const s = new ToolCallSplitter(format, tools);
  const events = [...s.push(text), ...s.end()];
  const calls = events.flatMap((e) => ('call' in e ? [e.call] : []));
  const content = events.map((e) => ('content' in e ? e.content : '')).join('');
  return { content: calls.length ? content.trim() : content, calls };
}

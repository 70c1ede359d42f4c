// What a request's `tools`, `tool_choice`, `parallel_tool_calls`, `response_format` and `grammar`
// (lutra's GBNF extension) mean for one generation: the grammar that constrains it, the tool-call
// format its reply is read with, and the messages and variables the chat template gets (tool
// calls and results passed back, the tools themselves; a system prompt describing them when the
// template has no tool support).

import { GbnfBuilder, gbnfLiteral, GrammarError, jsonGbnf, LazyGrammar, parseGbnf, SchemaError, schemaToGbnf, type Grammar } from '../../grammar/index.js';
import { InvalidRequestError } from '../schema.js';
import type { ChatCompletionMessageParam, ResponseFormat, ToolChoice, ChatTool } from '../types.js';
import { type ToolDef, type ToolFormat, toolFormatFor } from './formats.js';

export interface StructuredRequest {
  tools?: ChatTool[] | null;
  tool_choice?: ToolChoice | null;
  parallel_tool_calls?: boolean | null;
  response_format?: ResponseFormat | null;
  grammar?: string | null;
}

export interface StructuredPlan {
  /**
   * GBNF that every choice's output must match; a LazyGrammar for tool_choice "auto": free text
   * until the format's call opener, then calls whose arguments match their tool's parameters.
   */
  grammar?: Grammar | LazyGrammar;
  /** Replies are read for tool calls in this format. */
  tools?: { format: ToolFormat; defs: ToolDef[] };
  /** Tools to show the template (none when tool_choice is "none"). */
  templateTools?: ChatTool[];
}

/** Options from the model: its template source and a token lookup for single-token markers. */
export interface PlanContext {
  template: string;
  /** The id of a control token whose text this is, if it is one. */
  controlToken?: (text: string) => number | undefined;
  /** Resolves `<text>` token references in a request's GBNF. */
  tokenId?: (text: string) => number | undefined;
}

function grammarOf(text: string, param: string, ctx: PlanContext): Grammar {
  try {
    return parseGbnf(text, { tokenId: ctx.tokenId });
  } catch (e) {
    if (e instanceof GrammarError) throw new InvalidRequestError(param, e.message, 'invalid_grammar');
    throw e;
  }
}

function schemaGrammar(fn: () => string, param: string, ctx: PlanContext): Grammar {
  let text: string;
  try {
    text = fn();
  } catch (e) {
    if (e instanceof SchemaError) throw new InvalidRequestError(param, e.message, 'invalid_schema');
    throw e;
  }
  return grammarOf(text, param, ctx);
}

/** Turn a validated request's structured-output fields into a plan (InvalidRequestError naming the field). */
export function planStructured(p: StructuredRequest, ctx: PlanContext): StructuredPlan {
  const tools = p.tools ?? [];
  const choice = p.tool_choice ?? 'auto';
  const rf = p.response_format;
  const wantsJson = rf != null && rf.type !== 'text';
  if (p.grammar != null && wantsJson) throw new InvalidRequestError('grammar', "give either 'grammar' or a JSON 'response_format', not both");
  if (tools.length === 0 && choice !== 'auto' && choice !== 'none') throw new InvalidRequestError('tool_choice', "needs 'tools'");
  const names = new Set<string>();
  tools.forEach((t, i) => {
    if (names.has(t.function.name)) throw new InvalidRequestError(`tools[${i}].function.name`, `function ${JSON.stringify(t.function.name)} is defined twice`);
    names.add(t.function.name);
  });
  const plan: StructuredPlan = {};
  const useTools = tools.length > 0 && choice !== 'none';
  if (useTools) {
    plan.templateTools = tools;
    plan.tools = { format: toolFormatFor(ctx.template), defs: tools.map((t) => t.function) };
  }
  const forced = useTools && choice !== 'auto';
  if (forced && p.grammar != null) throw new InvalidRequestError('grammar', "give either 'grammar' or a forced tool_choice, not both");
  // auto alone: a lazy grammar (llama.cpp's grammar triggers) keeps text free and calls valid.
  const lazy = useTools && !forced && !wantsJson && p.grammar == null;
  if (forced || lazy || (useTools && (wantsJson || p.grammar != null))) {
    const format = plan.tools!.format;
    let defs = plan.tools!.defs;
    if (typeof choice === 'object') {
      const want = choice.function.name;
      defs = defs.filter((d) => d.name === want);
      if (!defs.length) throw new InvalidRequestError('tool_choice.function.name', `no tool is named ${JSON.stringify(want)}`);
    }
    const parallel = typeof choice !== 'object' && (p.parallel_tool_calls ?? true);
    const b = new GbnfBuilder();
    const marker = (text: string) => {
      const id = ctx.controlToken?.(text);
      // Lazily, a trigger may arrive as text as well as the token (the grammar is fed the text from the trigger on).
      return id === undefined ? gbnfLiteral(text) : lazy ? `(<[${id}]> | ${gbnfLiteral(text)})` : `<[${id}]>`;
    };
    const calls = defs.map((d) => {
      try {
        return d.parameters === undefined || d.parameters === null ? format.callGrammar(d.name, b, { type: 'object', properties: {}, additionalProperties: false }, marker) : format.callGrammar(d.name, b, d.parameters, marker);
      } catch (e) {
        if (e instanceof SchemaError) throw new InvalidRequestError(`tools[${tools.findIndex((t) => t.function.name === d.name)}].function.parameters`, e.message, 'invalid_schema');
        throw e;
      }
    });
    const call = b.rule('tool-call', calls.join(' | '));
    const callsRule = parallel ? b.rule('tool-calls', `${call} (${format.between} ${call})*`) : call;
    if (lazy) {
      // Openers that the call grammar does not write itself (Llama 3's <|python_tag|>) may lead.
      const lead = format.openers.filter((o) => !calls.some((c) => c.includes(gbnfLiteral(o)) || c.includes(marker(o))));
      const root = lead.length ? `(${lead.map(marker).join(' | ')})? ${callsRule}` : callsRule;
      const controlIds = format.openers.map((o) => ctx.controlToken?.(o)).filter((id): id is number => id !== undefined);
      plan.grammar = new LazyGrammar(grammarOf(b.text(root), 'tools', ctx), {
        tokens: controlIds, texts: format.openers, startTexts: format.startOnly, ignoreBetween: ['<think>', '</think>'],
      });
      return plan;
    }
    // A thinking model may think first; the calls then follow.
    const think = ctx.template.includes('<think>') ? `(${gbnfLiteral('<think>')} ${b.rule('think-text', '([^<] | "<" [^/] | "</" [^t])*')} ${gbnfLiteral('</think>')} [ \\n]*)? ` : '';
    let root = `${think}${callsRule}`;
    if (!forced) {
      // auto with a JSON response format: either the calls or the JSON reply.
      if (p.grammar != null) throw new InvalidRequestError('grammar', "with tool_choice 'auto', 'grammar' does not combine with tools; use 'none' or 'required'");
      const schema = rf!.type === 'json_schema' ? (rf!.json_schema.schema ?? {}) : { type: 'object' };
      try {
        root = `${root} | ${b.schema(schema, 'reply')}`;
      } catch (e) {
        if (e instanceof SchemaError) throw new InvalidRequestError('response_format.json_schema.schema', e.message, 'invalid_schema');
        throw e;
      }
    }
    plan.grammar = grammarOf(b.text(root), 'tools', ctx);
    return plan;
  }
  if (p.grammar != null) plan.grammar = grammarOf(p.grammar, 'grammar', ctx);
  else if (rf?.type === 'json_object') plan.grammar = grammarOf(jsonGbnf('object'), 'response_format', ctx);
  else if (rf?.type === 'json_schema') {
    const js = rf.json_schema;
    plan.grammar = schemaGrammar(() => schemaToGbnf(js.schema ?? {}), 'response_format.json_schema.schema', ctx);
  }
  return plan;
}

function parseArgs(text: string): unknown {
  try { return JSON.parse(text); } catch { return text; }
}

/** A message as the chat template sees it (arguments as objects, as transformers passes them). */
export interface TemplateMessage { role: string; content: string; tool_calls?: unknown[]; tool_call_id?: string; name?: string }

/**
 * Chat messages for the template: assistant tool calls and tool results kept in the fields
 * transformers' templates read; for a template that renders neither, written into the text in the
 * model's format, and tool results as `tool` turns.
 */
export function templateMessages(messages: ChatCompletionMessageParam[], template: string, text: (m: ChatCompletionMessageParam) => string): TemplateMessage[] {
  const knowsCalls = template.includes('tool_calls');
  const format = toolFormatFor(template);
  return messages.map((m) => {
    const role = m.role === 'developer' ? 'system' : m.role;
    const out: TemplateMessage = { role, content: text(m) };
    if (m.name !== undefined) out.name = m.name;
    if (m.role === 'assistant' && m.tool_calls?.length) {
      if (knowsCalls) {
        out.tool_calls = m.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: parseArgs(c.function.arguments) } }));
      } else {
        const written = format.write(m.tool_calls.map((c) => ({ name: c.function.name, arguments: parseArgs(c.function.arguments) })));
        out.content = out.content ? `${out.content}\n${written}` : written;
      }
    }
    if (m.role === 'tool') {
      if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
      if (!template.includes("'tool'") && !template.includes('"tool"') && !knowsCalls) out.content = `<tool_response>\n${out.content}\n</tool_response>`;
    }
    return out;
  });
}

/**
 * The tools for the template: passed as `tools` when the template reads them, else described in a
 * system message (Hermes style, which replies are then read in).
 */
export function withTools(messages: TemplateMessage[], template: string, tools: ChatTool[] | undefined): { messages: TemplateMessage[]; extra: Record<string, unknown> } {
  if (!tools?.length) return { messages, extra: {} };
  if (/\btools\b/.test(template)) return { messages, extra: { tools } };
  const list = tools.map((t) => JSON.stringify(t)).join('\n');
  const prompt = '# Tools\n\nYou may call one or more functions to assist with the user query.\n\n'
    + `You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n${list}\n</tools>\n\n`
    + 'For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n'
    + '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>';
  const first = messages[0];
  if (first?.role === 'system') return { messages: [{ ...first, content: `${first.content}\n\n${prompt}` }, ...messages.slice(1)], extra: {} };
  return { messages: [{ role: 'system', content: prompt }, ...messages], extra: {} };
}

// Named chat templates for models whose file carries none (`--chat-template NAME`): Jinja sources
// written for lutra that render, character for character, what llama.cpp's llm_chat_apply_template
// gives for the same name (BOS is the tokenizer's to add, as there). Not a detector of which
// format a model was trained on: the caller names it, or gets the ChatML fallback.

/** One line per built-in: what it renders, so `/help` and error messages can say. */
export interface BuiltinChatTemplate {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly about: string;
  readonly source: string;
}

// Every tag trims the whitespace around it ({%- -%}), so the line breaks below are layout only;
// all text a template emits is in a {{ }} expression.
const t = (...lines: string[]) => lines.join('\n');

const chatmlTurns = t(
  "{%- for message in messages -%}",
  "{{ '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}",
  "{%- endfor -%}",
);
const chatmlPrompt = "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}";

/** True before a message that opens a new [INST] block: the first, or one after a reply. */
const opensTurn = (firstOpens: boolean) =>
  `${firstOpens ? 'loop.index0 == 0 or ' : 'loop.index0 > 0 and '}messages[loop.index0 - 1].role not in ['system', 'user']`;

/** llama.cpp's llama2 family: one "[INST] " opened up front; a reply closes the block with </s>. */
function llama2(withSys: boolean): string {
  return t(
    "{{ '[INST] ' }}",
    "{%- for message in messages -%}",
    `{%- if ${opensTurn(false)} -%}{{ '[INST] ' }}{%- endif -%}`,
    "{%- if message.role == 'system' -%}",
    withSys ? "{{ '<<SYS>>\\n' + message.content + '\\n<</SYS>>\\n\\n' }}" : "{{ message.content + '\\n' }}",
    "{%- elif message.role == 'user' -%}{{ message.content + ' [/INST]' }}",
    "{%- else -%}{{ message.content + '</s>' }}",
    "{%- endif -%}",
    "{%- endfor -%}",
  );
}

/** Mistral's v1 / v3 / v3-tekken: "[INST]" opens each block, the system text sits inside the first. */
function mistralInst(lead: string, trail: string, trimReply: boolean): string {
  const reply = trimReply ? '(message.content | trim)' : 'message.content';
  return t(
    "{%- for message in messages -%}",
    `{%- if ${opensTurn(true)} -%}{{ '${lead}[INST]${trail}' }}{%- endif -%}`,
    "{%- if message.role == 'system' -%}{{ message.content + '\\n\\n' }}",
    `{%- elif message.role == 'user' -%}{{ message.content + '${lead}[/INST]' }}`,
    `{%- else -%}{{ '${trail}' + ${reply} + '</s>' }}`,
    "{%- endif -%}",
    "{%- endfor -%}",
  );
}

/** Mistral's v7 (space after the opening tags) and v7-tekken (none). */
function mistralV7(sp: string): string {
  return t(
    "{%- for message in messages -%}",
    `{%- if message.role == 'system' -%}{{ '[SYSTEM_PROMPT]${sp}' + message.content + '[/SYSTEM_PROMPT]' }}`,
    `{%- elif message.role == 'user' -%}{{ '[INST]${sp}' + message.content + '[/INST]' }}`,
    `{%- else -%}{{ '${sp}' + message.content + '</s>' }}`,
    "{%- endif -%}",
    "{%- endfor -%}",
  );
}

const TEMPLATES: BuiltinChatTemplate[] = [
  {
    name: 'chatml', aliases: [], about: '<|im_start|>role ... <|im_end|> (also the fallback)',
    source: t(chatmlTurns, chatmlPrompt),
  },
  {
    name: 'llama-3', aliases: ['llama3'], about: 'Llama 3: <|start_header_id|>role<|end_header_id|>, contents trimmed, <|eot_id|>',
    source: t(
      "{%- for message in messages -%}",
      "{{ '<|start_header_id|>' + message.role + '<|end_header_id|>\\n\\n' + (message.content | trim) + '<|eot_id|>' }}",
      "{%- endfor -%}",
      "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif -%}",
    ),
  },
  {
    name: 'llama-2', aliases: ['llama2'], about: 'Llama 2: [INST] ... [/INST] reply</s>, the system text on its own line',
    source: llama2(false),
  },
  {
    name: 'llama-2-sys', aliases: ['llama2-sys'], about: 'Llama 2 with the system text in <<SYS>> ... <</SYS>>',
    source: llama2(true),
  },
  {
    name: 'qwen2', aliases: ['qwen2.5'], about: 'ChatML, with Qwen\'s "You are a helpful assistant." when there is no system message',
    source: t(
      "{%- if messages | length == 0 or messages[0].role != 'system' -%}",
      "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}",
      "{%- endif -%}",
      chatmlTurns, chatmlPrompt,
    ),
  },
  {
    name: 'qwen3', aliases: [], about: 'ChatML; earlier replies lose their <think> part; enable_thinking=false adds an empty one',
    source: t(
      "{%- set ns = namespace(lastUser=-1) -%}",
      "{%- for message in messages -%}{%- if message.role == 'user' -%}{%- set ns.lastUser = loop.index0 -%}{%- endif -%}{%- endfor -%}",
      "{%- for message in messages -%}",
      "{%- set content = message.content -%}",
      "{%- if message.role == 'assistant' and loop.index0 < ns.lastUser and '</think>' in content -%}",
      "{%- set content = (content.split('</think>') | last).lstrip('\\n') -%}",
      "{%- endif -%}",
      "{{ '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>\\n' }}",
      "{%- endfor -%}",
      "{%- if add_generation_prompt -%}",
      "{{ '<|im_start|>assistant\\n' }}",
      "{%- if enable_thinking is defined and not enable_thinking -%}{{ '<think>\\n\\n</think>\\n\\n' }}{%- endif -%}",
      "{%- endif -%}",
    ),
  },
  {
    name: 'minicpm', aliases: [], about: 'MiniCPM: <用户>question<AI>answer, contents trimmed, no separators',
    source: t(
      "{%- for message in messages -%}",
      "{%- if message.role == 'user' -%}{{ '<用户>' + (message.content | trim) + '<AI>' }}",
      "{%- else -%}{{ message.content | trim }}",
      "{%- endif -%}",
      "{%- endfor -%}",
    ),
  },
  {
    name: 'phi-3', aliases: ['phi3'], about: 'Phi-3: <|role|> ... <|end|>',
    source: t(
      "{%- for message in messages -%}",
      "{{ '<|' + message.role + '|>\\n' + message.content + '<|end|>\\n' }}",
      "{%- endfor -%}",
      "{%- if add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- endif -%}",
    ),
  },
  {
    name: 'gemma', aliases: [], about: 'Gemma: <start_of_turn>user|model, the system text joined to the next user turn',
    source: t(
      "{%- set ns = namespace(system='') -%}",
      "{%- for message in messages -%}",
      "{%- if message.role == 'system' -%}",
      "{%- set ns.system = ns.system + (message.content | trim) -%}",
      "{%- else -%}",
      "{%- set role = 'model' if message.role == 'assistant' else message.role -%}",
      "{{ '<start_of_turn>' + role + '\\n' }}",
      "{%- if ns.system != '' and role != 'model' -%}{{ ns.system + '\\n\\n' }}{%- set ns.system = '' -%}{%- endif -%}",
      "{{ (message.content | trim) + '<end_of_turn>\\n' }}",
      "{%- endif -%}",
      "{%- endfor -%}",
      "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}",
    ),
  },
  {
    // llama.cpp reads the bare name "mistral" as its llama2 format (Mistral 7B Instruct v0.1/v0.2).
    name: 'mistral', aliases: [], about: 'Mistral 7B Instruct v0.1/v0.2: the llama-2 [INST] format',
    source: llama2(false),
  },
  { name: 'mistral-v1', aliases: [], about: 'Mistral v1 tokenizer: " [INST] ... [/INST]"', source: mistralInst(' ', ' ', false) },
  { name: 'mistral-v3', aliases: [], about: 'Mistral v3 tokenizer: "[INST] ...[/INST]", replies trimmed', source: mistralInst('', ' ', true) },
  { name: 'mistral-v3-tekken', aliases: [], about: 'Mistral v3 Tekken: "[INST]...[/INST]"', source: mistralInst('', '', false) },
  { name: 'mistral-v7', aliases: [], about: 'Mistral v7: [SYSTEM_PROMPT] ... [INST] ...[/INST]', source: mistralV7(' ') },
  { name: 'mistral-v7-tekken', aliases: [], about: 'Mistral v7 Tekken: as v7 without the spaces', source: mistralV7('') },
  {
    // As llama.cpp's (ik_llama.cpp's llama_chat_apply_template_internal, "bitnet"): the generation
    // prompt "Assistant: " follows every user turn, add_generation_prompt or not, and replies carry
    // no end marker of their own.
    name: 'bitnet', aliases: ['bitnet-b1.58'], about: 'BitNet b1.58 2B4T: "User: ...<|eot_id|>Assistant: " reply, "System: " text unseparated',
    source: t(
      "{%- for message in messages -%}",
      "{%- if message.role == 'system' -%}{{ 'System: ' + message.content }}",
      "{%- elif message.role == 'user' -%}{{ 'User: ' + message.content + '<|eot_id|>Assistant: ' }}",
      "{%- else -%}{{ message.content }}",
      "{%- endif -%}",
      "{%- endfor -%}",
    ),
  },
];

const BY_NAME = new Map<string, BuiltinChatTemplate>();
for (const b of TEMPLATES) for (const n of [b.name, ...b.aliases]) BY_NAME.set(n, b);

/** The built-in templates, in the order help lists them. */
export const BUILTIN_CHAT_TEMPLATES: readonly BuiltinChatTemplate[] = TEMPLATES;

/** A built-in by name or alias (case-insensitive), or undefined. */
export function builtinChatTemplate(name: string): BuiltinChatTemplate | undefined {
  return BY_NAME.get(name.trim().toLowerCase());
}

/** The names `--chat-template` accepts, for error messages. */
export function builtinChatTemplateNames(): string[] {
  return TEMPLATES.map((b) => b.name);
}

/**
 * The built-in a family chats with when its file carries no template (general.architecture ->
 * built-in name): the format the family's instruct models were trained on. A `llama` file is
 * Llama 3 only when its vocabulary has Llama 3's header tokens (stories260K, TinyLlama and Llama 2
 * are llama too); phi2 has no chat format of its own and keeps the ChatML fallback.
 */
const FAMILY_TEMPLATES: Readonly<Record<string, string>> = {
  qwen2: 'chatml', qwen2moe: 'chatml', qwen3: 'qwen3', qwen3moe: 'qwen3',
  gemma3: 'gemma', phi3: 'phi-3', minicpm: 'minicpm', minicpm3: 'chatml', bitnet: 'bitnet',
};

/**
 * The built-in's name for a family's files without a template, or undefined (then ChatML, the
 * fallback). `isSpecial(text)`: the vocabulary holds `text` as one control token.
 */
export function familyChatTemplate(arch: string, isSpecial: (text: string) => boolean = () => false): string | undefined {
  if (arch === 'llama') return isSpecial('<|start_header_id|>') && isSpecial('<|eot_id|>') ? 'llama-3' : undefined;
  return FAMILY_TEMPLATES[arch];
}

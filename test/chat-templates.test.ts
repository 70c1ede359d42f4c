// Built-in chat templates: each renders exactly what llama.cpp's llm_chat_apply_template gives for
// its name on one conversation (system, user, a reply with spaces around it, user, generation
// prompt); resolving a template (the model's own, a chosen one, the ChatML fallback, refusals).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ArgumentError } from '../src/core/errors.js';
import {
  BUILTIN_CHAT_TEMPLATES, builtinChatTemplate, builtinChatTemplateNames, renderChatTemplate, resolveChatTemplate, type ChatMessage,
} from '../src/tokenizer/index.js';
import { createEngine } from '../src/openai/index.js';
import { familyChatTemplate } from '../src/tokenizer/index.js';
import { loadModel } from '../src/runtime/model.js';
import { LUTRA_BIN, STORIES_GGUF } from './helpers.js';
import { ARCH_SPECS, archGGUF } from './arch-models.js';
import { CHATML } from './openai-helpers.js';

const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'You are helpful.' },
  { role: 'user', content: 'Hello' },
  { role: 'assistant', content: ' Hi there ' },
  { role: 'user', content: 'How are you?' },
];

const CHATML_OUT = '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n'
  + '<|im_start|>assistant\n Hi there <|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n';
const LLAMA2_OUT = '[INST] You are helpful.\nHello [/INST] Hi there </s>[INST] How are you? [/INST]';

/** What llama.cpp renders for CONVERSATION with add_ass = true, name by name. */
const EXPECTED: Record<string, string> = {
  'chatml': CHATML_OUT,
  'llama-3': '<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>'
    + '<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>'
    + '<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>'
    + '<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>'
    + '<|start_header_id|>assistant<|end_header_id|>\n\n',
  'llama-2': LLAMA2_OUT,
  'llama-2-sys': '[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHello [/INST] Hi there </s>[INST] How are you? [/INST]',
  'qwen2': CHATML_OUT,
  'qwen3': CHATML_OUT,
  'minicpm': 'You are helpful.<用户>Hello<AI>Hi there<用户>How are you?<AI>',
  'phi-3': '<|system|>\nYou are helpful.<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\n Hi there <|end|>\n<|user|>\nHow are you?<|end|>\n<|assistant|>\n',
  'gemma': '<start_of_turn>user\nYou are helpful.\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n'
    + '<start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n',
  'mistral': LLAMA2_OUT,
  'mistral-v1': ' [INST] You are helpful.\n\nHello [/INST]  Hi there </s> [INST] How are you? [/INST]',
  'mistral-v3': '[INST] You are helpful.\n\nHello[/INST] Hi there</s>[INST] How are you?[/INST]',
  'mistral-v3-tekken': '[INST]You are helpful.\n\nHello[/INST] Hi there </s>[INST]How are you?[/INST]',
  'mistral-v7': '[SYSTEM_PROMPT] You are helpful.[/SYSTEM_PROMPT][INST] Hello[/INST]  Hi there </s>[INST] How are you?[/INST]',
  'mistral-v7-tekken': '[SYSTEM_PROMPT]You are helpful.[/SYSTEM_PROMPT][INST]Hello[/INST] Hi there </s>[INST]How are you?[/INST]',
  // ik_llama.cpp's "bitnet" (the llama.cpp fork that added the name): no separator after the system
  // text, "Assistant: " after every user turn, replies as they are.
  'bitnet': 'System: You are helpful.User: Hello<|eot_id|>Assistant:  Hi there User: How are you?<|eot_id|>Assistant: ',
};

const render = (name: string, messages = CONVERSATION, extra?: Record<string, unknown>) =>
  renderChatTemplate(builtinChatTemplate(name)!.source, messages, { addGenerationPrompt: true, bosToken: '<s>', eosToken: '</s>', name, extra });

test('every built-in renders llama.cpp\'s format for system + user + reply + user + generation prompt', () => {
  assert.deepEqual(builtinChatTemplateNames().sort(), Object.keys(EXPECTED).sort(), 'a test case per built-in');
  for (const name of builtinChatTemplateNames()) assert.equal(render(name), EXPECTED[name], name);
});

test('aliases name the same templates; lookups ignore case', () => {
  for (const [alias, name] of [['llama3', 'llama-3'], ['llama2', 'llama-2'], ['phi3', 'phi-3'], ['ChatML', 'chatml'], ['llama2-sys', 'llama-2-sys']]) {
    assert.equal(builtinChatTemplate(alias)?.name, name, alias);
  }
  for (const b of BUILTIN_CHAT_TEMPLATES) assert.ok(b.about.length > 0, b.name);
});

test('qwen2 adds Qwen\'s default system message; qwen3 drops earlier replies\' thinking and can turn thinking off', () => {
  const noSystem = CONVERSATION.slice(1);
  assert.equal(render('qwen2', noSystem), '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' + render('chatml', noSystem));
  assert.equal(render('chatml', noSystem), CHATML_OUT.slice(CHATML_OUT.indexOf('<|im_start|>user')));
  const thought: ChatMessage[] = [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: '<think>\nhmm\n</think>\n\nHello!' },
    { role: 'user', content: 'Bye' },
  ];
  assert.equal(render('qwen3', thought),
    '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n');
  assert.ok(render('qwen3', thought, { enable_thinking: false }).endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n'));
  // Without a generation prompt only the turns are rendered; minicpm and the llama-2 family add none either way.
  assert.equal(renderChatTemplate(builtinChatTemplate('chatml')!.source, CONVERSATION, { addGenerationPrompt: false }), CHATML_OUT.slice(0, -'<|im_start|>assistant\n'.length));
});

test('resolveChatTemplate: a chosen template wins, else the model\'s own, else ChatML marked fallback', () => {
  assert.deepEqual(resolveChatTemplate(CHATML), { template: CHATML, source: 'model', name: 'tokenizer.chat_template' });
  const fb = resolveChatTemplate(undefined);
  assert.equal(fb.source, 'fallback');
  assert.equal(fb.name, 'chatml');
  assert.equal(fb.template, builtinChatTemplate('chatml')!.source);
  const chosen = resolveChatTemplate(CHATML, 'llama3');
  assert.equal(chosen.source, 'builtin');
  assert.equal(chosen.name, 'llama-3');
  const custom = resolveChatTemplate(undefined, '{{ messages[0].content }}');
  assert.equal(custom.source, 'custom');
  assert.throws(() => resolveChatTemplate(undefined, 'vicuna-7'), (e: unknown) =>
    e instanceof ArgumentError && /unknown chat template "vicuna-7"; built-in templates: chatml, llama-3, llama-2, .*gemma, mistral/.test((e as Error).message));
  assert.throws(() => resolveChatTemplate(undefined, '{% for m in messages %}'), (e: unknown) => e instanceof ArgumentError && /does not parse/.test((e as Error).message));
});

test('an engine on a model without a template chats with ChatML and says so; one chosen by name is used', async () => {
  await using engine = await createEngine({ model: STORIES_GGUF, ctx: 128 });
  assert.equal(engine.templateSource, 'fallback');
  const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, temperature: 0 });
  assert.equal(r.choices.length, 1);
  await using llama3 = await createEngine({ model: STORIES_GGUF, ctx: 128, chatTemplate: 'llama-3' });
  assert.equal(llama3.chatTemplate.source, 'builtin');
  const tokens = llama3.chatPromptTokens([{ role: 'user', content: 'Hi' }]);
  assert.equal(llama3.model.detokenize(tokens, true), llama3.model.detokenize(llama3.model.tokenize(render('llama-3', [{ role: 'user', content: 'Hi' }]), { parseSpecial: true }), true));
  await assert.rejects(createEngine({ model: STORIES_GGUF, ctx: 128, chatTemplate: 'nope' }), /unknown chat template "nope"/);
});

test('lutra chat / run: the fallback notice, --chat-template NAME|FILE, an unknown name refused listing the built-ins', () => {
  const lutra = (args: string[], input = '') => spawnSync(process.execPath, [LUTRA_BIN, ...args], { encoding: 'utf8', input, timeout: 120_000 });
  const fb = lutra(['chat', STORIES_GGUF, '--ctx', '128', '-n', '4', '--temp', '0'], 'Hi\n');
  assert.equal(fb.status, 0, fb.stderr);
  assert.match(fb.stderr, /stories260K\.gguf has no chat template; using chatml \(choose one with --chat-template NAME\|FILE\)\n/);
  const named = lutra(['chat', STORIES_GGUF, '--ctx', '128', '-n', '4', '--chat-template', 'gemma'], 'Hi\n');
  assert.equal(named.status, 0, named.stderr);
  assert.doesNotMatch(named.stderr, /no chat template/);
  const bad = lutra(['chat', STORIES_GGUF, '--chat-template', 'nope'], 'Hi\n');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^lutra: --chat-template "nope": neither a built-in template \(chatml, llama-3, llama-2, .*\) nor a file\n$/);
  const dir = mkdtempSync(join(tmpdir(), 'lutra-tpl-'));
  const file = join(dir, 'plain.jinja');
  writeFileSync(file, "{% for m in messages %}{{ m.role + ': ' + m.content + '\\n' }}{% endfor %}{{ 'assistant:' }}");
  const run = lutra(['run', STORIES_GGUF, '-p', 'Once upon a time', '--chat-template', file, '--temp', '0', '-n', '4']);
  assert.equal(run.status, 0, run.stderr);
  const big = join(dir, 'big.jinja');
  writeFileSync(big, '{{ 1 }}' + 'x'.repeat((1 << 20) + 1));
  const tooBig = lutra(['run', STORIES_GGUF, '-p', 'x', '--chat-template', big]);
  assert.equal(tooBig.status, 1);
  assert.match(tooBig.stderr, /over the limit of 1048576 for a chat template/);
});

/** The built-in each family's files chat with when they carry no template (general.architecture -> name). */
const FAMILY_EXPECTED: Record<string, string> = {
  qwen3moe: 'qwen3', qwen2moe: 'chatml', 'minicpm-moe': 'minicpm', minicpm3: 'chatml', phi3: 'phi-3',
  gemma3: 'gemma', 'gemma3-swa': 'gemma', bitnet: 'bitnet', 'bitnet-scaled': 'bitnet',
};

test('a file without a template chats with its family\'s built-in (tiny random file per family), else ChatML', async () => {
  for (const [name, spec] of Object.entries(ARCH_SPECS)) {
    const model = await loadModel(archGGUF(spec), { backend: 'ref' });
    try {
      const t = model.chatTemplate;
      assert.equal(t.source, 'fallback', name);
      const want = FAMILY_EXPECTED[name];
      if (want === undefined) {
        // phi2 has no chat format of its own.
        assert.equal(name, 'phi2');
        assert.equal(t.name, 'chatml');
        assert.equal(t.family, undefined);
      } else {
        assert.equal(t.name, want, name);
        assert.equal(t.family, spec.arch, name);
        assert.equal(t.template, builtinChatTemplate(want)!.source, name);
      }
    } finally {
      model.dispose();
    }
  }
  // The families lutra had before: the table by name (qwen2 and qwen3 files without a template are rare but exist).
  assert.equal(familyChatTemplate('qwen2'), 'chatml');
  assert.equal(familyChatTemplate('qwen3'), 'qwen3');
  assert.equal(familyChatTemplate('minicpm'), 'minicpm');
  assert.equal(familyChatTemplate('phi2'), undefined);
  assert.equal(familyChatTemplate('no-such-arch'), undefined);
  // llama is Llama 3 only with Llama 3's header and end-of-turn tokens in the vocabulary; stories260K has neither.
  assert.equal(familyChatTemplate('llama', () => true), 'llama-3');
  assert.equal(familyChatTemplate('llama', (t) => t === '<|eot_id|>'), undefined);
  assert.equal(familyChatTemplate('llama'), undefined);
  const stories = await loadModel(STORIES_GGUF, { backend: 'ref' });
  assert.deepEqual([stories.chatTemplate.source, stories.chatTemplate.name, stories.chatTemplate.family], ['fallback', 'chatml', undefined]);
  stories.dispose();
  // The model's own template and a chosen one still win over the family's.
  assert.equal(resolveChatTemplate(CHATML, undefined, { arch: 'gemma3', template: 'gemma' }).source, 'model');
  assert.equal(resolveChatTemplate(undefined, 'chatml', { arch: 'gemma3', template: 'gemma' }).name, 'chatml');
});

test('lutra run/chat on a family file without a template: the one-line note names the family\'s built-in', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-fam-'));
  const file = join(dir, 'bitnet.gguf');
  writeFileSync(file, archGGUF(ARCH_SPECS.bitnet!));
  const r = spawnSync(process.execPath, [LUTRA_BIN, 'chat', file, '--ctx', '64', '-n', '2', '--temp', '0'], { encoding: 'utf8', input: 'Hi\n', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /bitnet\.gguf has no chat template; using bitnet, the bitnet family's built-in \(choose one with --chat-template NAME\|FILE\)\n/);
  assert.equal(r.stderr.match(/no chat template/g)?.length, 1);
});

// Chat templates: the model's Jinja template (GGUF tokenizer.chat_template or tokenizer_config.json)
// rendered with @huggingface/jinja, with the variables transformers passes (messages,
// add_generation_prompt, bos_token, eos_token, plus caller extras such as tools).

import { Template } from '@huggingface/jinja';
import { TokenizerError } from '../core/errors.js';

export interface ChatMessage { role: string; content: string }

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  extra?: Record<string, unknown>;
}

const compiled = new Map<string, Template>();

export function renderChatTemplate(template: string, messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
  let t = compiled.get(template);
  if (!t) {
    try {
      t = new Template(template);
    } catch (e) {
      throw new TokenizerError(`chat template does not parse: ${(e as Error).message}`);
    }
    compiled.set(template, t);
  }
  try {
    return t.render({
      ...opts.extra,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: opts.bosToken ?? '',
      eos_token: opts.eosToken ?? '',
    });
  } catch (e) {
    throw new TokenizerError(`chat template failed to render: ${(e as Error).message}`);
  }
}

/** The template of a model, or a TokenizerError naming the model and the missing key. */
export function requireChatTemplate(template: string | undefined, model: string): string {
  if (!template) throw new TokenizerError(`model ${model} has no chat template (tokenizer.chat_template)`);
  return template;
}

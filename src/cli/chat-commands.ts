// `lutra chat`'s slash commands and conversation files: parsing a typed line into a command or a
// message, and /save / /load as a JSON array of {role, content}. Nothing here talks to the model;
// cmdChat in main.ts runs the conversation.

import { readFile, writeFile } from 'node:fs/promises';
import { ArgumentError, FileError } from '../core/errors.js';
import type { ChatMessage } from '../tokenizer/index.js';

export const CHAT_HELP = [
  'commands (never sent to the model):',
  '  /help          this help',
  '  /reset         forget the conversation (the system message stays)',
  '  /system TEXT   set the system message (/system alone shows it)',
  '  /save FILE     write the conversation as JSON messages',
  '  /load FILE     continue a conversation written by /save',
  '  /image FILE    attach a PNG or JPEG to the next message (lutra chat --mmproj P)',
  '  /exit          quit (also Ctrl-D, or Ctrl-C at the prompt twice)',
  '  //TEXT         send /TEXT as a message',
  'Ctrl-C stops a reply and keeps the chat.',
].join('\n');

export type ChatLine =
  | { kind: 'empty' }
  | { kind: 'message'; text: string }
  | { kind: 'help' | 'reset' | 'exit' }
  | { kind: 'system'; text: string }
  | { kind: 'save' | 'load' | 'image'; file: string }
  | { kind: 'unknown'; command: string; why: string };

/** A typed line as a slash command, or the message to send ("//x" sends "/x"). */
export function parseChatLine(line: string): ChatLine {
  if (!line.trim()) return { kind: 'empty' };
  if (line.startsWith('//')) return { kind: 'message', text: line.slice(1) };
  if (!line.startsWith('/')) return { kind: 'message', text: line };
  const m = /^\/(\S*)\s*(.*)$/s.exec(line.trimEnd())!;
  const [command, arg] = [m[1]!, m[2]!];
  switch (command) {
    case 'help': case '?': return { kind: 'help' };
    case 'reset': case 'clear': return { kind: 'reset' };
    case 'exit': case 'quit': return { kind: 'exit' };
    case 'system': return { kind: 'system', text: arg };
    case 'save': case 'load': case 'image':
      return arg ? { kind: command, file: arg } : { kind: 'unknown', command: `/${command}`, why: `/${command} needs a FILE` };
    default: return { kind: 'unknown', command: `/${command}`, why: `unknown command /${command}` };
  }
}

export async function saveConversation(file: string, messages: ChatMessage[]): Promise<void> {
  try {
    await writeFile(file, JSON.stringify(messages.map(({ role, content }) => ({ role, content })), null, 2) + '\n');
  } catch (e) {
    throw new FileError(file, (e as Error).message);
  }
}

/** A file /save wrote (or an OpenAI-style {"messages": [...]}), checked message by message. */
export async function loadConversation(file: string): Promise<ChatMessage[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new FileError(file, (e as Error).message);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ArgumentError(`${file}: not JSON (${(e as Error).message})`);
  }
  if (data && typeof data === 'object' && !Array.isArray(data) && 'messages' in data) data = (data as { messages: unknown }).messages;
  if (!Array.isArray(data)) throw new ArgumentError(`${file}: expected a JSON array of {"role", "content"} messages`);
  return data.map((m: unknown, i) => {
    const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
    if (role !== 'system' && role !== 'user' && role !== 'assistant') throw new ArgumentError(`${file}: message ${i}: role must be system, user or assistant, got ${JSON.stringify(role)}`);
    if (typeof content !== 'string') throw new ArgumentError(`${file}: message ${i}: content must be a string`);
    return { role, content };
  });
}

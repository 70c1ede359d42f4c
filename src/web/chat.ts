// The chat page served at `/` by `lutra serve`: talks to the server's OpenAI API (SSE) or to an
// engine in this page (chat-worker.ts, model from a URL through the OPFS cache or from a local file).
// Chat mode uses the model's template; Complete mode sends raw text (models without a template).
// Structured output: a response_format (any JSON object, or JSON matching a schema) on both modes,
// and tools with a tool_choice in chat mode; calls are shown in the reply, and the next message
// after a reply with calls is sent as the calls' result (`tool` messages).

import type { FromWorker, ModelInfo, ToWorker } from './protocol.js';

type Mode = 'chat' | 'text';
type Backend = 'server' | 'page';
interface ToolCall { id: string; type: 'function'; function: { name: string; arguments: string } }
interface Message { role: 'system' | 'user' | 'assistant' | 'tool'; content: string; tool_calls?: ToolCall[]; tool_call_id?: string }
interface ToolCallDelta { index: number; id?: string; function: { name?: string; arguments: string } }
interface Chunk { choices: { text?: string; delta?: { content?: string | null; tool_calls?: ToolCallDelta[] }; finish_reason: string | null }[] }

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const log = $('log');
const promptBox = $<HTMLTextAreaElement>('prompt');
const sendBtn = $<HTMLButtonElement>('send');
const stopBtn = $<HTMLButtonElement>('stop');
const progress = $<HTMLProgressElement>('progress');
const pageInfo = $('page-info');

let backend: Backend = 'server';
let mode: Mode = 'chat';
let messages: Message[] = [];
let worker: Worker | undefined;
let pageModel: ModelInfo | undefined;
let serverModel: { id: string; chatTemplate: boolean } | undefined;
let stopCurrent: (() => void) | undefined;
let nextId = 1;

function setStatus(state: string, text: string): void {
  status.dataset.state = state;
  status.textContent = text;
}

function radio(name: string): string {
  return (document.querySelector(`input[name=${name}]:checked`) as HTMLInputElement).value;
}

function setMode(m: Mode): void {
  mode = m;
  (document.querySelector(`input[name=mode][value=${m}]`) as HTMLInputElement).checked = true;
  promptBox.placeholder = m === 'chat' ? 'Type a message (Enter to send, Shift+Enter for a new line)' : 'Text to continue (Enter to send)';
}

/** The model behind the chosen engine decides the default mode: no chat template, no chat. */
function syncMode(): void {
  const hasTemplate = backend === 'server' ? serverModel?.chatTemplate : pageModel?.chatTemplate;
  if (hasTemplate === false) setMode('text');
}

/** The server's models (/v1/models) in the model list: each is the server's /model.gguf. */
async function loadModelList(): Promise<void> {
  try {
    const res = await fetch('/v1/models', { headers: authHeaders() });
    if (!res.ok) return;
    const list = $<HTMLSelectElement>('model-list');
    for (const m of ((await res.json()) as { data: { id: string }[] }).data) {
      const o = document.createElement('option');
      o.value = '/model.gguf';
      o.textContent = `${m.id} (this server)`;
      list.append(o);
    }
  } catch { /* no server: the URL field still works */ }
}

/** "12.3 / 45.6 MB · 7.8 MB/s · 4 s left" for a download that started at t0. */
function progressText(phase: string, loaded: number, total: number, t0: number): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const s = (performance.now() - t0) / 1000;
  const rate = s > 0.2 ? loaded / s : 0;
  const eta = rate > 0 && total > loaded ? ` · ${Math.ceil((total - loaded) / rate)} s left` : '';
  return `${phase} ${mb(loaded)} / ${mb(total)} MB${rate ? ` · ${mb(rate)} MB/s` : ''}${eta}`;
}

async function loadServerInfo(): Promise<void> {
  try {
    const h = await (await fetch('/health')).json() as { model: string; chat_template: boolean; slots_idle: number; slots_processing: number };
    serverModel = { id: h.model, chatTemplate: h.chat_template };
    $('server-info').textContent = `${h.model} · ${h.chat_template ? 'chat template' : 'no chat template: Complete mode'}\n${h.slots_idle + h.slots_processing} slot(s)`;
    syncMode();
  } catch {
    $('server-info').textContent = 'no lutra server answering at this address';
  }
}

function authHeaders(): Record<string, string> {
  const key = $<HTMLInputElement>('api-key').value.trim();
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function* fromServer(kind: Mode, body: object, signal: AbortSignal): AsyncGenerator<Chunk> {
  const res = await fetch(kind === 'chat' ? '/v1/chat/completions' : '/v1/completions', {
    method: 'POST', signal, headers: { 'content-type': 'application/json', ...authHeaders() }, body: JSON.stringify({ ...body, stream: true }),
  });
  if (!res.ok) throw new Error(((await res.json()) as { error: { message: string } }).error.message);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data === '[DONE]') return;
      const parsed = JSON.parse(data) as Chunk & { error?: { message: string } };
      if (parsed.error) throw new Error(parsed.error.message);
      yield parsed;
    }
  }
}

async function* fromPage(kind: Mode, body: object, signal: AbortSignal): AsyncGenerator<Chunk> {
  if (!worker || !pageModel) throw new Error('load a model first');
  const id = nextId++;
  const queue: FromWorker[] = [];
  let wake: (() => void) | undefined;
  const onMessage = (e: MessageEvent<FromWorker>) => {
    if ('id' in e.data && e.data.id === id) { queue.push(e.data); wake?.(); }
  };
  worker.addEventListener('message', onMessage);
  const onAbort = () => worker!.postMessage({ type: 'abort', id } satisfies ToWorker);
  signal.addEventListener('abort', onAbort);
  worker.postMessage({ type: 'request', id, kind, body: body as Record<string, unknown> } satisfies ToWorker);
  try {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((r) => { wake = r; });
      const m = queue.shift()!;
      if (m.type === 'chunk') yield m.chunk as Chunk;
      else if (m.type === 'done') return;
      else if (m.type === 'error') throw new Error(m.message);
    }
  } finally {
    worker.removeEventListener('message', onMessage);
    signal.removeEventListener('abort', onAbort);
  }
}

/** The request fields of the Structured output panel; throws naming the box whose JSON does not parse. */
function structuredFields(kind: Mode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const parse = (box: string, text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Error(`${box}: not JSON (${(e as Error).message})`);
    }
  };
  const format = $<HTMLSelectElement>('output-format').value;
  if (format === 'json_object') out.response_format = { type: 'json_object' };
  else if (format === 'json_schema') {
    const schema = parse('JSON Schema', $<HTMLTextAreaElement>('json-schema').value.trim() || '{}');
    out.response_format = { type: 'json_schema', json_schema: { name: 'page', schema, strict: true } };
  }
  const toolsText = $<HTMLTextAreaElement>('tools').value.trim();
  if (kind === 'chat' && toolsText) {
    const tools = parse('tools', toolsText);
    if (!Array.isArray(tools)) throw new Error('tools: a JSON array of tools is expected');
    // Bare functions ({name, parameters}) are wrapped as OpenAI tools.
    out.tools = tools.map((t: { type?: string; name?: string }) => (t && t.type === undefined && typeof t.name === 'string' ? { type: 'function', function: t } : t));
    out.tool_choice = $<HTMLSelectElement>('tool-choice').value;
  }
  return out;
}

function bubble(cls: string, html?: string): HTMLDivElement {
  const d = document.createElement('div');
  d.className = `msg ${cls}`;
  if (html !== undefined) d.textContent = html;
  log.appendChild(d);
  log.scrollTop = log.scrollHeight;
  return d;
}

async function send(): Promise<void> {
  const text = promptBox.value;
  if (!text.trim() || stopCurrent) return;
  let extra: Record<string, unknown>;
  try {
    extra = structuredFields(mode);
  } catch (e) {
    bubble('error', (e as Error).message);
    setStatus('error', 'error');
    return;
  }
  promptBox.value = '';
  const temperature = Number($<HTMLInputElement>('temperature').value);
  const maxTokens = Number($<HTMLInputElement>('max-tokens').value);
  const ac = new AbortController();
  stopCurrent = () => ac.abort();
  sendBtn.disabled = true;
  stopBtn.disabled = false;
  let out: HTMLElement;
  let body: object;
  let sent = 0;
  if (mode === 'chat') {
    // After a reply with tool calls, the message is the calls' result.
    const calls = messages.at(-1)?.tool_calls;
    const turn: Message[] = calls?.length ? calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: text })) : [{ role: 'user', content: text }];
    messages.push(...turn);
    sent = turn.length;
    bubble(calls?.length ? 'user tool-result' : 'user', text);
    const system = $<HTMLTextAreaElement>('system').value.trim();
    body = { messages: system ? [{ role: 'system', content: system }, ...messages] : messages, temperature, max_tokens: maxTokens, ...extra };
    out = bubble('assistant');
  } else {
    body = { prompt: text, temperature, max_tokens: maxTokens, ...extra };
    const b = bubble('completion');
    const p = document.createElement('b');
    p.textContent = text;
    out = document.createElement('span');
    out.dataset.testid = 'completion';
    b.append(p, out);
  }
  out.classList.add('output');
  setStatus('generating', 'generating…');
  const t0 = performance.now();
  let pieces = 0;
  let reply = '';
  let finish: string | null = null;
  const calls: ToolCall[] = [];
  const callViews: HTMLElement[] = [];
  const text0 = document.createElement('span');
  out.append(text0);
  try {
    const stream = backend === 'server' ? fromServer(mode, body, ac.signal) : fromPage(mode, body, ac.signal);
    for await (const c of stream) {
      const choice = c.choices[0];
      if (!choice) continue;
      const piece = mode === 'chat' ? choice.delta?.content ?? '' : choice.text ?? '';
      if (piece) { reply += piece; pieces++; text0.textContent = reply; log.scrollTop = log.scrollHeight; }
      for (const d of choice.delta?.tool_calls ?? []) {
        const call = (calls[d.index] ??= { id: d.id ?? `call_${d.index}`, type: 'function', function: { name: d.function.name ?? '', arguments: '' } });
        call.function.arguments += d.function.arguments;
        const view = (callViews[d.index] ??= out.appendChild(Object.assign(document.createElement('span'), { className: 'tool-call' })));
        view.dataset.testid = 'tool-call';
        view.dataset.name = call.function.name;
        view.dataset.arguments = call.function.arguments;
        view.textContent = `→ ${call.function.name}(${call.function.arguments})`;
      }
      finish = choice.finish_reason ?? finish;
    }
    if (mode === 'chat') messages.push({ role: 'assistant', content: reply, ...(calls.length ? { tool_calls: calls } : {}) });
    const s = (performance.now() - t0) / 1000;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `${pieces} tokens · ${(pieces / s).toFixed(1)} tokens/s · ${finish ?? 'stopped'} · ${backend === 'server' ? 'server' : `in page (${pageModel!.kernels})`}`;
    out.parentElement!.appendChild(meta);
    setStatus('done', 'done');
  } catch (e) {
    if (ac.signal.aborted) {
      if (mode === 'chat') messages.push({ role: 'assistant', content: reply });
      setStatus('done', 'stopped');
    } else {
      if (mode === 'chat') messages.splice(messages.length - sent, sent);
      bubble('error', (e as Error).message);
      setStatus('error', 'error');
    }
  } finally {
    stopCurrent = undefined;
    sendBtn.disabled = false;
    stopBtn.disabled = true;
  }
}

// The Hub token lives in this tab's sessionStorage only (never localStorage, never sent to the
// server): the worker sends it to the Hub endpoint's origin and nowhere else.
const TOKEN_KEY = 'lutra.hubToken';
const hubToken = $<HTMLInputElement>('hub-token');
hubToken.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
hubToken.addEventListener('input', () => {
  if (hubToken.value.trim()) sessionStorage.setItem(TOKEN_KEY, hubToken.value.trim());
  else sessionStorage.removeItem(TOKEN_KEY);
});

function loadInPage(): void {
  worker ??= new Worker('/web/chat-worker.js', { type: 'module' });
  const files = Array.from($<HTMLInputElement>('model-file').files ?? []);
  const file = files[0];
  const url = $<HTMLInputElement>('model-url').value.trim();
  const isServerModel = !file && new URL(url, location.href).pathname === '/model.gguf';
  const hub = { endpoint: $<HTMLInputElement>('hub-endpoint').value.trim() || undefined, token: hubToken.value.trim() || undefined };
  const msg: ToWorker = {
    type: 'load',
    // The server's API key goes only to this page's own origin (the worker checks each URL).
    source: files.length > 1 ? { files } : file ? { file } : { url, headers: authHeaders(), hub },
    cache: $<HTMLInputElement>('use-cache').checked,
    name: isServerModel ? serverModel?.id : undefined,
  };
  pageModel = undefined;
  progress.hidden = false;
  progress.value = 0;
  const what = files.length > 1 ? `${files.length} files` : file ? file.name : url;
  setStatus('loading', `loading ${what}…`);
  pageInfo.textContent = '';
  pageInfo.classList.remove('error');
  let t0 = performance.now(), phase = '';
  $<HTMLButtonElement>('load').disabled = true;
  worker.onmessage = (e: MessageEvent<FromWorker>) => {
    const m = e.data;
    if (m.type === 'progress') {
      if (m.phase !== phase) { phase = m.phase; t0 = performance.now(); }
      progress.max = Math.max(1, m.total);
      progress.value = m.loaded;
      pageInfo.textContent = progressText(m.phase, m.loaded, m.total, t0);
    } else if (m.type === 'loaded') {
      pageModel = m.info;
      progress.hidden = true;
      $<HTMLButtonElement>('load').disabled = false;
      pageInfo.dataset.fromCache = String(m.info.fromCache);
      pageInfo.dataset.files = String(m.info.files);
      pageInfo.textContent = `${m.info.id} · ${m.info.arch} · context ${m.info.nCtx}${m.info.files > 1 ? ` · ${m.info.files} shards` : ''}\nkernels: ${m.info.kernels}\n` +
        `${m.info.fromCache ? 'from the OPFS cache' : 'downloaded'} in ${Math.round(m.info.loadMs)} ms\n` +
        `cross-origin isolated: ${m.info.crossOriginIsolated ? 'yes (threads)' : 'no (one thread)'}`;
      setStatus('ready', `${m.info.id} ready in this page`);
      syncMode();
    } else if (m.type === 'load-error') {
      progress.hidden = true;
      $<HTMLButtonElement>('load').disabled = false;
      pageInfo.classList.add('error');
      pageInfo.textContent = `Could not load ${what}:\n${m.message}`;
      setStatus('error', 'load failed (see the Engine panel)');
    }
  };
  worker.postMessage(msg);
}

document.querySelectorAll<HTMLInputElement>('input[name=backend]').forEach((r) => r.addEventListener('change', () => {
  backend = radio('backend') as Backend;
  $('server-panel').hidden = backend !== 'server';
  $('page-panel').hidden = backend !== 'page';
  syncMode();
}));
document.querySelectorAll<HTMLInputElement>('input[name=mode]').forEach((r) => r.addEventListener('change', () => setMode(radio('mode') as Mode)));
$('load').addEventListener('click', loadInPage);
$('model-list').addEventListener('change', () => {
  const v = $<HTMLSelectElement>('model-list').value;
  if (v) $<HTMLInputElement>('model-url').value = v;
});
$('clear-cache').addEventListener('click', async () => {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry('lutra-models', { recursive: true }).catch(() => {});
  pageInfo.textContent = 'cache cleared';
});
$('new-chat').addEventListener('click', () => { messages = []; log.textContent = ''; });
$('output-format').addEventListener('change', () => { $('schema-panel').hidden = $<HTMLSelectElement>('output-format').value !== 'json_schema'; });
$('composer').addEventListener('submit', (e) => { e.preventDefault(); void send(); });
promptBox.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); void send(); } });
stopBtn.addEventListener('click', () => stopCurrent?.());
setStatus('idle', '');
void loadServerInfo();
void loadModelList();

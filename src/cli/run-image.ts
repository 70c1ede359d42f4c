// `lutra run MODEL --mmproj P --image FILE -p TEXT`: one user turn with images, as llama-mtmd-cli
// runs it: the prompt is one user message in the chat template with each image's marker in front
// of the text (where the text has no marker of its own), the images decoded, sliced and encoded by
// the projector, and the completion streamed. --verbose prints each image's encode time.

import { readFile } from 'node:fs/promises';
import { ArgumentError, FileError } from '../core/errors.js';
import type { GenerateOptions } from '../runtime/generate.js';
import type { Model } from '../runtime/model.js';
import { encodeMarkedPrompt, generateWithImages, loadProjector, MEDIA_MARKER } from '../runtime/vision.js';
import type { PreparedImage } from '../vision/types.js';
import { renderChatTemplate, resolveChatTemplate, type ResolvedChatTemplate } from '../tokenizer/index.js';
import { decodeImage } from '../vision/image.js';
import { preprocessImage } from '../vision/slicing.js';

export interface ImageRunFlags {
  mmproj?: string;
  image?: string[];
  verbose?: boolean;
  ctx?: number;
  chatTemplate?: string;
}

export async function runWithImages(model: Model, prompt: string, o: ImageRunFlags, chosenTemplate: string | undefined, opts: GenerateOptions, write: (s: string) => void): Promise<void> {
  const images = o.image ?? [];
  if (!o.mmproj) throw new ArgumentError('--image needs --mmproj FILE (the projector GGUF that goes with the model)');
  if (images.length === 0) throw new ArgumentError('--mmproj needs at least one --image FILE');
  const t0 = performance.now();
  const projector = await loadProjector(o.mmproj, { kernels: model.kernels, model });
  try {
    if (o.verbose) {
      const hp = projector.hparams;
      process.stderr.write(`lutra: ${o.mmproj}: ${hp.projectorType}${hp.minicpmvVersion ? ` (minicpmv_version ${hp.minicpmvVersion})` : ''}, encoder ${hp.nLayer} x ${hp.nEmbd}, ${hp.imageSize}-pixel slices, ${hp.nEmbdOut}-wide embeddings; loaded in ${(performance.now() - t0).toFixed(0)} ms\n`);
    }
    // Markers: as llama-mtmd-cli, one per image in front of the text unless the text places them.
    const marked = prompt.includes(MEDIA_MARKER) ? prompt : MEDIA_MARKER.repeat(images.length) + prompt;
    const pieces = marked.split(MEDIA_MARKER);
    if (pieces.length - 1 !== images.length) throw new ArgumentError(`the prompt has ${pieces.length - 1} ${MEDIA_MARKER} markers for ${images.length} images`);
    const tpl: ResolvedChatTemplate = chosenTemplate === undefined ? model.chatTemplate : resolveChatTemplate(model.tokenizer.chatTemplate, chosenTemplate);
    const text = renderChatTemplate(tpl.template, [{ role: 'user', content: marked }], { addGenerationPrompt: true, bosToken: model.tokenizer.bosText, eosToken: model.tokenizer.eosText, name: tpl.name });
    const prepared: PreparedImage[] = [];
    for (const file of images) {
      let bytes: Uint8Array;
      try { bytes = new Uint8Array(await readFile(file)); } catch (e) { throw new FileError(file, (e as Error).message); }
      prepared.push(preprocessImage(decodeImage(bytes, file), projector.hparams));
    }
    const encoded = encodeMarkedPrompt(model, projector, text, prepared, (found) => new ArgumentError(`the chat template's text has ${found} ${MEDIA_MARKER} markers for ${images.length} images`));
    if (o.verbose) {
      encoded.images.forEach((im, i) => process.stderr.write(`lutra: image ${images[i]}: ${im.slices} slice${im.slices === 1 ? '' : 's'}, ${im.tokens} embeddings, encoded in ${im.ms.toFixed(0)} ms (${(im.ms / im.slices).toFixed(0)} ms per slice)\n`));
    }
    const ctx = model.createContext({ ctx: o.ctx });
    try {
      for await (const chunk of generateWithImages(model, ctx, encoded, opts)) {
        if (chunk.text) write(chunk.text);
        if (chunk.done) {
          const t = chunk.timings;
          write('\n');
          process.stderr.write(`lutra: prompt ${encoded.ids.length} tokens (${encoded.images.reduce((a, b) => a + b.tokens, 0)} from images) | generated ${t.generatedTokens} tokens, ${t.tokensPerSecond.toFixed(1)} tokens/s | stop: ${chunk.stopReason}\n`);
        }
      }
    } finally {
      ctx.dispose();
    }
  } finally {
    projector.dispose();
  }
}

// What every container loader produces: GGUF-style metadata and a tensor table whose data are views
// into the loaded bytes. The model loader consumes only this, so it does not care whether the
// weights came from a GGUF file or a Hugging Face folder.

import type { GGUFTensorInfo, GGUFValue } from './gguf.js';

export interface ModelSource {
  /** Path or name used in error messages. */
  file: string;
  metadata: Map<string, GGUFValue>;
  tensors: GGUFTensorInfo[];
  /** Parsed tokenizer.json / tokenizer_config.json when the model came from a Hugging Face folder. */
  tokenizerJson?: unknown;
  tokenizerConfig?: unknown;
}

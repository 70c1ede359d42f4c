// The contract between image preprocessing (decode, resize, normalize, slice: image.ts / slicing.ts)
// and the vision encoder (projector.ts): the projector file's hyperparameters, one prepared slice,
// and the layout that says which special tokens go around and between a picture's slices, as
// llama.cpp's mtmd lays them out. Types only; no code lives here.

/** Projector kinds lutra runs, by their GGUF `clip.projector_type` string. */
export type ProjectorType = 'resampler' | 'mlp' | 'idefics3';

/** The encoder blocks' activation (`clip.use_gelu` / `clip.use_silu`; neither: quick GELU). */
export type VisionFfnOp = 'gelu' | 'gelu_quick' | 'silu';

/** Hyperparameters of a projector (mmproj) GGUF, as mtmd reads them (`clip.*` keys). */
export interface ClipHparams {
  projectorType: ProjectorType;
  /** `clip.minicpmv_version` for a resampler (2 = V2.5, 3 = V2.6, 4 = o-2.6, 5 = V4.0, 6 = V4.5, 100045 = o-4.5); 0 otherwise. */
  minicpmvVersion: number;
  /** Resampler queries = tokens per slice (`clip.minicpmv_query_num`, else the version's default); 0 otherwise. */
  queryNum: number;
  /** Side of the square the encoder is trained on, in pixels (`clip.vision.image_size`). */
  imageSize: number;
  /** Side of one patch in pixels (`clip.vision.patch_size`). */
  patchSize: number;
  /** Per-channel normalization, RGB: value = (pixel / 255 - mean) / std. */
  imageMean: readonly [number, number, number];
  imageStd: readonly [number, number, number];
  /** Encoder width, FFN width, blocks, heads, layer-norm epsilon (`clip.vision.*`). */
  nEmbd: number;
  nFf: number;
  nLayer: number;
  nHead: number;
  eps: number;
  ffnOp: VisionFfnOp;
  /** Width of the embeddings the projector emits: must equal the LLM's n_embd. */
  nEmbdOut: number;
  /** Pixel-shuffle factor (idefics3, `clip.vision.projector.scale_factor`); 1 when none. */
  scaleFactor: number;
  /** idefics3's longest edge before slicing (`clip.vision.preproc_image_size`); 0 when the file has none. */
  preprocImageSize: number;
  /** LLaVA-UHD pinpoints (`clip.vision.image_grid_pinpoints`) as [width, height] pairs; empty when none. */
  gridPinpoints: readonly (readonly [number, number])[];
}

/** One image (or slice of one) ready for the encoder. */
export interface PreparedSlice {
  /** CHW planes, normalized: data[c * height * width + y * width + x]. */
  data: Float32Array;
  width: number;
  height: number;
}

/**
 * One step of an image's place in the prompt, in order: a special token given by its text (looked
 * up as one vocabulary entry, e.g. `<image>`, `</slice>`, `\n`), text tokenized with special tokens
 * parsed (idefics3's `<fake_token_around_image><row_1_col_2>`), or the embeddings of slice `index`.
 */
export type LayoutItem =
  | { kind: 'token'; text: string }
  | { kind: 'text'; text: string }
  | { kind: 'slice'; index: number };

export interface ImageLayout {
  items: LayoutItem[];
  /** The slice grid (columns x rows) after the overview; 0 x 0 when the image is one slice. */
  gridCols: number;
  gridRows: number;
}

/** What preprocessing hands the encoder: the slices (overview first when there is one) and their layout. */
export interface PreparedImage {
  slices: PreparedSlice[];
  layout: ImageLayout;
}

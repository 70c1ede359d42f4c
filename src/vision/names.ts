// The GGUF keys and tensor names of a projector (mmproj) file as llama.cpp's mtmd writes and reads
// them (tools/mtmd/clip-impl.h), spelled once for the loader and for `lutra synth`.

export const CLIP = {
  projectorType: 'clip.projector_type',
  visionProjectorType: 'clip.vision.projector_type',
  hasVision: 'clip.has_vision_encoder',
  useGelu: 'clip.use_gelu',
  useSilu: 'clip.use_silu',
  minicpmvVersion: 'clip.minicpmv_version',
  minicpmvQueryNum: 'clip.minicpmv_query_num',
  nEmbd: 'clip.vision.embedding_length',
  nFf: 'clip.vision.feed_forward_length',
  nLayer: 'clip.vision.block_count',
  nHead: 'clip.vision.attention.head_count',
  nHeadKv: 'clip.vision.attention.head_count_kv',
  eps: 'clip.vision.attention.layer_norm_epsilon',
  projectionDim: 'clip.vision.projection_dim',
  imageSize: 'clip.vision.image_size',
  patchSize: 'clip.vision.patch_size',
  imageMean: 'clip.vision.image_mean',
  imageStd: 'clip.vision.image_std',
  featureLayer: 'clip.vision.feature_layer',
  scaleFactor: 'clip.vision.projector.scale_factor',
  preprocImageSize: 'clip.vision.preproc_image_size',
  gridPinpoints: 'clip.vision.image_grid_pinpoints',
} as const;

/** Encoder tensors (prefix `v.`). */
export const VT = {
  patchEmbd: 'v.patch_embd.weight',
  patchBias: 'v.patch_embd.bias',
  posEmbd: 'v.position_embd.weight',
  classEmbd: 'v.class_embd',
  preLn: (p: 'weight' | 'bias') => `v.pre_ln.${p}`,
  postLn: (p: 'weight' | 'bias') => `v.post_ln.${p}`,
  blk: (l: number, t: 'attn_q' | 'attn_k' | 'attn_v' | 'attn_out' | 'ln1' | 'ln2' | 'ffn_up' | 'ffn_down' | 'ffn_gate' | 'attn_qkv', p: 'weight' | 'bias') => `v.blk.${l}.${t}.${p}`,
} as const;

/** Projector tensors: LLaVA's MLP (`mm.N.*`), idefics3's linear, MiniCPM-V's resampler. */
export const MT = {
  mlp: (i: number, p: 'weight' | 'bias') => `mm.${i}.${p}`,
  idefics3Fc: 'mm.model.fc.weight',
  query: 'resampler.query',
  kv: 'resampler.kv.weight',
  proj: 'resampler.proj.weight',
  posEmbdK: 'resampler.pos_embed_k',
  attn: (t: 'q' | 'k' | 'v' | 'out', p: 'weight' | 'bias') => `resampler.attn.${t}.${p}`,
  ln: (t: 'q' | 'kv' | 'post', p: 'weight' | 'bias') => `resampler.ln_${t}.${p}`,
} as const;

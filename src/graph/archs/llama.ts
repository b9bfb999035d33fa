import { blk, gatedMlp, norm, selfAttention } from '../blocks.js';
import type { ArchGraph } from './arch.js';

/**
 * Llama family: Llama 2/3, Mistral, SmolLM2, TinyLlama, Qwen2 (q/k/v biases, picked up
 * when present) and Qwen3 (per-head q/k RMSNorm, spec.qkNorm). RMSNorm, RoPE, SwiGLU.
 */
export const llama: ArchGraph = {
  attentionBranch(c, resid) {
    return selfAttention(c, norm(c, resid, blk(c, 'attn_norm')));
  },
  mlpBranch(c, resid) {
    return gatedMlp(c, norm(c, resid, blk(c, 'ffn_norm')));
  },
};

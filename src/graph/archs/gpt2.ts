import { blk, norm, plainMlp, selfAttention } from '../blocks.js';
import type { ArchGraph } from './arch.js';

/**
 * GPT-2: LayerNorm with bias, biased projections (the fused c_attn is split into q/k/v
 * at load), learned positions added to the embedding (no RoPE), GELU (tanh) MLP.
 */
export const gpt2: ArchGraph = {
  attentionBranch(c, resid) {
    return selfAttention(c, norm(c, resid, blk(c, 'attn_norm')));
  },
  mlpBranch(c, resid) {
    return plainMlp(c, norm(c, resid, blk(c, 'ffn_norm')));
  },
};

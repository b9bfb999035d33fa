import type { LayerContext } from '../blocks.js';

/**
 * What an architecture declares: how its two residual branches are computed from the
 * residual stream. The residual adds, hook points and KV plumbing are shared (../segment.ts).
 */
export interface ArchGraph {
  /** resid_pre → attn_out (pre-norm + attention + output projection). */
  attentionBranch(c: LayerContext, resid: string): string;
  /** resid_mid → mlp_out (pre-norm + MLP). */
  mlpBranch(c: LayerContext, resid: string): string;
}

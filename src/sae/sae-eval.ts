import { InvalidInputError } from '../io/errors.js';
import { hookName } from '../graph/hook-points.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import type { PositionSelector } from '../runtime/positions.js';
import { saeRunnerFor } from './runner-cache.js';
import { checkSaeFitsModel, type Sae } from './sae.js';
import { saeSpliceIntervention, zeroAblationIntervention } from './sae-interventions.js';

/**
 * How much of the model an SAE keeps: the next-token loss when the hook point's activations
 * are replaced by their reconstructions, against the clean model and against zero-ablating
 * the point. CE loss recovered = (L_zero − L_sae) / (L_zero − L_clean) (1 = lossless,
 * 0 = no better than deleting the activations); ΔL = L_sae − L_clean.
 */
export interface SaeModelEval {
  readonly contexts: number;
  /** Predicted tokens the losses average over. */
  readonly tokens: number;
  readonly cleanLoss: number;
  readonly saeLoss: number;
  readonly zeroLoss: number;
  readonly ceLossRecovered: number;
  readonly deltaLoss: number;
  /** Reconstruction on the same tokens' activations (BOS rows excluded when asked). */
  readonly fvu: number;
  readonly l0: number;
  /** Fraction of latents that never fired on these tokens. */
  readonly silentFraction: number;
}

export interface SaeModelEvalOptions {
  /** Contexts per forward (default 8). */
  readonly batchSize?: number;
  /** Leave the BOS position untouched (SAEs are usually trained without it). Default true. */
  readonly excludeBos?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

export async function evaluateSaeOnModel(model: HookedModel, sae: Sae, contexts: readonly (readonly number[])[], opts: SaeModelEvalOptions = {}): Promise<SaeModelEval> {
  checkSaeFitsModel(sae, { ...model.spec, name: model.source.name });
  if (contexts.length === 0) throw new InvalidInputError('no evaluation contexts');
  for (const c of contexts) if (c.length < 2) throw new InvalidInputError('every evaluation context needs at least two tokens');
  const batchSize = opts.batchSize ?? 8;
  const skipBos = (opts.excludeBos ?? true) && model.spec.addBos && model.spec.bosTokenId !== undefined;
  const positions: PositionSelector = skipBos ? { from: 1 } : 'all';
  const at = sae.cfg.hook;
  const name = hookName(at);
  const runs: Record<'clean' | 'sae' | 'zero', Hook[]> = {
    clean: [{ kind: 'capture', at }],
    sae: [{ kind: 'intervene', at, intervention: saeSpliceIntervention(sae, positions) }],
    zero: [{ kind: 'intervene', at, intervention: zeroAblationIntervention(sae.cfg.dIn, positions) }],
  };
  const nll = { clean: 0, sae: 0, zero: 0 };
  let tokens = 0;
  const rows: Float32Array[] = [];
  const D = sae.cfg.dIn;
  for (let start = 0; start < contexts.length; start += batchSize) {
    const batch = contexts.slice(start, start + batchSize);
    for (const run of ['clean', 'sae', 'zero'] as const) {
      // Each position's next token, scored in the graph (the last position's target is unused).
      const targets = batch.map((ids) => ids.map((_, t) => ids[t + 1] ?? 0));
      const out = await model.forward({ tokens: batch, targets, hooks: runs[run], logits: 'targets' });
      batch.forEach((ids, b) => {
        const first = out.pad[b];
        for (let t = 0; t + 1 < ids.length; t++) nll[run] -= out.targetLogprobs![b * out.seq + first + t];
        if (run === 'clean') {
          const act = out.captures.get(name)!;
          const from = skipBos ? 1 : 0;
          rows.push(act.data.slice((b * out.seq + first + from) * D, (b * out.seq + first + ids.length) * D));
        }
      });
    }
    for (const ids of batch) tokens += ids.length - 1;
    opts.onProgress?.(Math.min(start + batchSize, contexts.length), contexts.length);
  }
  const all = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
  let off = 0;
  for (const r of rows) {
    all.set(r, off);
    off += r.length;
  }
  const stats = await saeRunnerFor(sae, model.threads).stats(all, all.length / D);
  const clean = nll.clean / tokens;
  const saeLoss = nll.sae / tokens;
  const zero = nll.zero / tokens;
  let silent = 0;
  for (const f of stats.fired) if (f === 0) silent++;
  return {
    contexts: contexts.length,
    tokens,
    cleanLoss: clean,
    saeLoss,
    zeroLoss: zero,
    ceLossRecovered: (zero - saeLoss) / (zero - clean),
    deltaLoss: saeLoss - clean,
    fvu: stats.sse / stats.sst,
    l0: stats.l0,
    silentFraction: silent / sae.cfg.dSae,
  };
}

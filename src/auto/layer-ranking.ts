import { InvalidInputError } from '../io/errors.js';
import type { SteeringVector } from '../steering/vector.js';
import { SteeringProbe, type SteeringOutcome } from './steering-probe.js';

export interface LayerScore {
  readonly layer: number;
  /** Held-out separability of the layer's direction (null: too little held-out data). */
  readonly auroc: number | null;
  readonly fisher: number | null;
  /** Coefficient giving the fixed relative strength at this layer (null: not measured). */
  readonly coefficient: number | null;
  /** Concept score gain over the unsteered model at that strength (null: not measured). */
  readonly effect: number | null;
  readonly cost: number | null;
  readonly feasible: boolean | null;
}

export interface LayerRankingOptions {
  /** Layers measured by steering, the most separable ones (default 4). */
  readonly candidates?: number;
  /** |coefficient × direction| as a share of the layer's mean activation norm (default 0.5). */
  readonly relativeStrength?: number;
  /** Cost at most this for a layer to count as feasible. */
  readonly budget: number;
  /** Never consider these (default: none). */
  readonly exclude?: readonly number[];
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Ranks a vector's layers in two stages: every layer by held-out separability (AUROC, then
 * Fisher ratio), then the best few by what steering there actually does: each is steered at the
 * same strength relative to its own activation norm and scored on the probe prompts. Layers
 * within the coherence budget come first, ordered by concept gain; the rest follow by gain.
 */
export async function rankLayers(probe: SteeringProbe, vector: SteeringVector, opts: LayerRankingOptions): Promise<LayerScore[]> {
  const rho = opts.relativeStrength ?? 0.5;
  if (!(rho > 0) || !Number.isFinite(rho)) throw new InvalidInputError(`relativeStrength must be a positive number, got ${rho}`);
  const k = opts.candidates ?? 4;
  if (!Number.isInteger(k) || k < 1) throw new InvalidInputError(`candidates must be a positive integer, got ${k}`);
  const diagnostics = (vector.meta.diagnostics ?? []).filter((d) => vector.directions.has(d.layer) && !(opts.exclude ?? []).includes(d.layer));
  if (diagnostics.length === 0) throw new InvalidInputError('the vector has no per-layer diagnostics to rank layers by (extract it with held-out pairs)');
  const bySeparation = [...diagnostics].sort((a, b) => (b.auroc ?? 0) - (a.auroc ?? 0) || (b.fisher ?? 0) - (a.fisher ?? 0));
  const measured = bySeparation.slice(0, k).filter((d) => d.relativeNorm !== null && d.relativeNorm > 0);
  if (measured.length === 0) throw new InvalidInputError('no candidate layer has a usable direction norm');

  const base = await probe.run([]);
  const outcomes = new Map<number, { coefficient: number; outcome: SteeringOutcome }>();
  for (const [i, d] of measured.entries()) {
    const coefficient = rho / d.relativeNorm!;
    const outcome = await probe.run(SteeringProbe.hooks(vector.directions.get(d.layer)!, d.layer, vector.meta.site, coefficient));
    outcomes.set(d.layer, { coefficient, outcome });
    opts.onProgress?.(i + 1, measured.length);
  }
  const scores: LayerScore[] = bySeparation.map((d) => {
    const m = outcomes.get(d.layer);
    return {
      layer: d.layer,
      auroc: d.auroc,
      fisher: d.fisher,
      coefficient: m ? m.coefficient : null,
      effect: m ? m.outcome.concept - base.concept : null,
      cost: m ? m.outcome.cost : null,
      feasible: m ? m.outcome.fluent && m.outcome.cost <= opts.budget : null,
    };
  });
  const rank = (s: LayerScore): number => (s.effect === null ? 2 : s.feasible ? 0 : 1);
  return scores.sort((a, b) => rank(a) - rank(b) || (b.effect ?? 0) - (a.effect ?? 0));
}

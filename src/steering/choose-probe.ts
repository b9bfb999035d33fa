import { hookName } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import type { Activation, Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { probeScorer } from '../decoding/probe-scorer.js';
import type { CandidateScorer } from '../decoding/plan.js';
import { choiceHooks, choiceIntervention, offerVectors, type OfferedVector } from './choice-vectors.js';
import type { ProbeChoice } from './choose-spec.js';
import type { ModelShape } from './model-match.js';
import { modelShape } from './resolve.js';
import type { ResolvedIntervention, SpecResolver } from './spec.js';

/**
 * Probe mode of `choose`: a policy for models that cannot call tools (base models, and chat
 * models too). Each candidate pairs a vector with a linear probe for its concept and a target
 * level. At the start of a turn every probe reads the prompt (one forward up to the deepest
 * probe layer, the text reduced as the probe was trained: last token or mean); the level is
 * the probe's probability of its class (a classifier) or its value (a regression). The vector
 * whose concept reads furthest below its target (largest target − level) is applied, at strength
 * 1, to the whole turn; when every level meets its target, none is. Ties go to the first listed.
 */

export interface ProbeReading {
  /** The candidate's vector name. */
  readonly vector: string;
  readonly level: number;
  readonly target: number;
  /** target − level: how far below its target the concept reads (≤ 0: met). */
  readonly gap: number;
}

export interface ProbeDecision {
  readonly readings: readonly ProbeReading[];
  /** The chosen vector's name; absent when every target is met. */
  readonly chosen?: string;
  /** The plain spec intervention applied for the turn (with the spec's own ones before it). */
  readonly intervention?: Record<string, unknown>;
  readonly resolved?: ResolvedIntervention;
  /** The chosen vector's hooks (none when nothing was chosen). */
  readonly hooks: readonly Hook[];
}

interface Candidate {
  readonly vector: OfferedVector;
  readonly scorer: CandidateScorer;
  /** How the probe's score becomes a level: a classifier's logit or log-probability → probability. */
  readonly toLevel: (score: number) => number;
  readonly target: number;
}

export class ProbePolicy {
  private readonly candidates: readonly Candidate[];
  private readonly offer: { readonly model: ModelShape; readonly resolve: SpecResolver; readonly force: boolean };

  constructor(
    private readonly model: HookedModel,
    choice: ProbeChoice,
    resolve: SpecResolver,
    force = false,
  ) {
    const probeOf = resolve.probe;
    if (!probeOf) throw new InvalidInputError('choose mode "probe" needs probe files, which this caller cannot load');
    this.offer = { model: modelShape(model), resolve, force };
    const vectors = offerVectors(choice.candidates, this.offer, 'choose.candidates');
    this.candidates = choice.candidates.map((c, i) => {
      const where = `choose.candidates.${i}`;
      const probe = probeOf.call(resolve, c.probe);
      let scorer: CandidateScorer;
      try {
        scorer = probeScorer(probe, model, c.probeLayer, c.class);
      } catch (e) {
        throw e instanceof InvalidInputError ? new InvalidInputError(`${where}: ${e.message}`, { cause: e }) : e;
      }
      const classifier = probe.task === 'classification';
      if (classifier && !(c.target >= 0 && c.target <= 1)) throw new InvalidInputError(`${where}: target ${c.target} is a probability for a classifier probe: give it in 0..1`);
      // probeScores gives a binary classifier's logit and a multiclass one's log-probability.
      const toLevel = !classifier ? (s: number) => s : probe.classes.length === 2 ? (s: number) => 1 / (1 + Math.exp(-s)) : Math.exp;
      return { vector: vectors[i], scorer, toLevel, target: c.target };
    });
  }

  /** Reads every probe on `prompt` and picks the vector for this turn. */
  async decide(prompt: readonly number[]): Promise<ProbeDecision> {
    const points = new Map(this.candidates.map((c) => [hookName(c.scorer.point), c.scorer.point]));
    const captures: Hook[] = [...points.values()].map((at) => ({ kind: 'capture', at }));
    const out = await this.model.forward({ tokens: [prompt], hooks: captures, logits: 'none' });
    const readings = this.candidates.map((c): ProbeReading => {
      const row = reduceRows(out.captures.get(hookName(c.scorer.point))!, c.scorer.reduce);
      const level = c.toLevel(c.scorer.score(row, 1)[0]);
      return { vector: c.vector.name, level, target: c.target, gap: c.target - level };
    });
    let best = -1;
    readings.forEach((r, i) => {
      if (r.gap > 0 && (best < 0 || r.gap > readings[best].gap)) best = i;
    });
    if (best < 0) return { readings, hooks: [] };
    const v = this.candidates[best].vector;
    let resolved: ResolvedIntervention | undefined;
    const hooks = choiceHooks(v, 1, 'all', this.offer, `choose.candidates.${best}`, (r) => (resolved = r));
    return { readings, chosen: v.name, intervention: choiceIntervention(v, 1, 'all'), resolved, hooks };
  }
}

/** One sequence's activation as a probe reads it: the last token's row, or the mean over tokens. */
function reduceRows(act: Activation, reduce: 'last' | 'mean'): Float32Array {
  const D = act.dim;
  if (reduce === 'last') return act.data.slice((act.seq - 1) * D, act.seq * D);
  const mean = new Float32Array(D);
  for (let t = 0; t < act.seq; t++) for (let d = 0; d < D; d++) mean[d] += act.data[t * D + d] / act.seq;
  return mean;
}

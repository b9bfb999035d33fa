import { InvalidInputError } from '../io/errors.js';
import type { HookedModel } from '../runtime/model.js';
import { probeScores, type LinearProbe } from '../probes/probe.js';
import { bestProbeLayer } from '../probes/train-probes.js';
import type { CandidateScorer } from './plan.js';

/**
 * A linear probe as a candidate scorer, reducing the text as the probe was trained (newest
 * token or mean over tokens). Layer: the given one, else the probe's best
 * cross-validated layer, else its only layer. Scores are probeScores' (the logit or
 * log-probability of `favour`, default the positive / last class; regression: the value).
 */
export function probeScorer(probe: LinearProbe, model: Pick<HookedModel, 'spec'>, layer?: number, favour?: string): CandidateScorer {
  if (probe.hiddenSize !== model.spec.hiddenSize) {
    throw new InvalidInputError(`probe was trained on hidden size ${probe.hiddenSize} but the model's is ${model.spec.hiddenSize}`);
  }
  const at = layer ?? bestLayer(probe);
  if (!probe.layers.has(at)) throw new InvalidInputError(`probe has no layer ${at} (it has ${[...probe.layers.keys()].join(', ')})`);
  if (at >= model.spec.numLayers) throw new InvalidInputError(`layer ${at} does not exist: the model has layers 0..${model.spec.numLayers - 1}`);
  if (favour !== undefined && probe.task === 'classification' && !probe.classes.includes(favour)) {
    throw new InvalidInputError(`probe has no class "${favour}" (classes: ${probe.classes.join(', ')})`);
  }
  if (favour !== undefined && probe.task === 'regression') throw new InvalidInputError('a regression probe has no classes to favour');
  return {
    name: `probe@${at}`,
    point: { layer: at, site: probe.site },
    reduce: probe.positions,
    score: (activations, rows) => probeScores(probe, at, activations, rows, favour),
  };
}

function bestLayer(probe: LinearProbe): number {
  const layers = [...probe.layers.keys()];
  if (layers.length === 1) return layers[0];
  const best = bestProbeLayer(layers.flatMap((layer) => (probe.metrics?.has(layer) ? [{ layer, metrics: probe.metrics.get(layer)! }] : [])));
  if (best === undefined) throw new InvalidInputError(`probe has layers ${layers.join(', ')} and no metrics to choose one: give "layer"`);
  return best;
}

/**
 * Query vectors for an activation index: a steering vector's direction at a layer, an SAE
 * feature's decoder row, or a text's activation at the index's hook point.
 */
import { hookName } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import type { HookedModel } from '../runtime/model.js';
import { tokenString } from '../sae/feature-activations.js';
import { loadSae } from '../sae/load-sae.js';
import { checkFeature, decoderRow } from '../sae/sae.js';
import { loadVector } from '../steering/vector-file.js';
import type { ActivationIndex } from './activation-index.js';
import type { QueryKind } from './index-search.js';

export interface IndexQuery {
  readonly vector: Float32Array;
  readonly kind: QueryKind;
  /** What the query is, for output: "sad.safetensors @ layer 1", "feature 847 of l1.safetensors", ... */
  readonly label: string;
}

/** Where in a text to read the activation: the last token, the mean over tokens, or a token index. */
export type TextPosition = 'last' | 'mean' | number;

/** A steering vector's direction at `layer` (default: the index's layer), as a direction query. */
export function vectorQuery(index: ActivationIndex, file: string, layer?: number): IndexQuery {
  const v = loadVector(file);
  const at = layer ?? index.point.layer;
  const dir = v.directions.get(at);
  if (!dir) throw new InvalidInputError(`${file} has no direction for layer ${at} (it has layers ${[...v.directions.keys()].join(', ')}); choose one with --layer`);
  if (v.meta.site !== index.point.site) throw new InvalidInputError(`${file} acts at ${v.meta.site} but the index holds ${index.manifest.hook} rows`);
  if (dir.length !== index.dim) throw new InvalidInputError(`${file} has ${dir.length}-wide directions but the index holds ${index.dim}-wide rows`);
  return { vector: dir, kind: 'direction', label: `${file} @ layer ${at}` };
}

/** "SAE:N": an SAE file or folder and a feature number (split at the last colon). */
export function parseFeatureRef(ref: string): { sae: string; feature: number } {
  const at = ref.lastIndexOf(':');
  const feature = at < 0 ? NaN : Number(ref.slice(at + 1));
  if (at <= 0 || !/^\d+$/.test(ref.slice(at + 1)) || !Number.isSafeInteger(feature)) throw new InvalidInputError(`--feature takes SAE:N (an SAE file and a feature number), got ${JSON.stringify(ref)}`);
  return { sae: ref.slice(0, at), feature };
}

/** An SAE feature's decoder row, as a direction query; the SAE must read the index's hook point. */
export function featureQuery(index: ActivationIndex, saePath: string, feature: number): IndexQuery {
  const sae = loadSae(saePath);
  if (hookName(sae.cfg.hook) !== index.manifest.hook) throw new InvalidInputError(`${saePath} reads ${hookName(sae.cfg.hook)} but the index holds ${index.manifest.hook} rows`);
  checkFeature(sae, feature);
  return { vector: decoderRow(sae, feature), kind: 'direction', label: `feature ${feature} of ${saePath}` };
}

/** Throws unless `model` is the one the index's rows came from (by hidden size, layer count and name). */
export function checkIndexModel(index: ActivationIndex, model: HookedModel): void {
  const want = index.manifest.model;
  const have = { name: model.source.name, hiddenSize: model.spec.hiddenSize, numLayers: model.spec.numLayers };
  if (have.hiddenSize !== want.hiddenSize || have.numLayers !== want.numLayers || have.name !== want.name) {
    throw new InvalidInputError(`the index was built on ${want.name} (${want.numLayers} layers, hidden ${want.hiddenSize}), not ${have.name} (${have.numLayers} layers, hidden ${have.hiddenSize})`);
  }
}

/**
 * The activation of `text` at the index's hook point, at `position` (a token index counts the
 * BOS token the model may prepend as 0; negative counts from the end), as a point query.
 */
export async function textQuery(index: ActivationIndex, model: HookedModel, text: string, position: TextPosition = 'last'): Promise<IndexQuery & { token?: string }> {
  checkIndexModel(index, model);
  const ids = model.encode(text);
  const bos = model.spec.addBos && model.spec.bosTokenId !== undefined && ids[0] === model.spec.bosTokenId ? 1 : 0;
  if (ids.length <= bos) throw new InvalidInputError('the text has no tokens');
  const out = await model.forward({ tokens: [ids], hooks: [{ kind: 'capture', at: index.point }], logits: 'none' });
  const acts = out.captures.get(index.manifest.hook)!.data;
  const D = index.dim;
  if (position === 'mean') {
    // Over the text's own tokens: the BOS row is an outlier the index leaves out by default.
    const v = new Float32Array(D);
    for (let t = bos; t < ids.length; t++) for (let j = 0; j < D; j++) v[j] += acts[t * D + j] / (ids.length - bos);
    return { vector: v, kind: 'point', label: `mean of ${JSON.stringify(text)}` };
  }
  const t = position === 'last' ? ids.length - 1 : position < 0 ? ids.length + position : position;
  if (!Number.isInteger(t) || t < 0 || t >= ids.length) throw new InvalidInputError(`position ${String(position)} is outside the text's ${ids.length} tokens (0..${ids.length - 1}${bos ? ', 0 = BOS' : ''})`);
  const token = tokenString(model, ids[t]);
  return { vector: acts.slice(t * D, (t + 1) * D), kind: 'point', label: `${JSON.stringify(text)} at token ${t} (${JSON.stringify(token)})`, token };
}

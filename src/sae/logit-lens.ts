/**
 * Direct logit effects of SAE features: which tokens a feature's decoder direction pushes up or
 * down through the unembedding, ignoring the layers after the hook point (the "logit lens" of
 * Neuronpedia's feature pages). For a feature f:
 *
 *   w_f = (W_dec[f] ⊙ g) · W_U        g = final norm gain (ones when the model has none)
 *
 * The normalisation's 1/rms scale is left out: it rescales every token alike.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../graph/onnx-builder.js';
import { InvalidInputError } from '../io/errors.js';
import type { HookedModel } from '../runtime/model.js';
import { tokenString } from './feature-activations.js';
import { checkFeature, checkSaeFitsModel, type Sae } from './sae.js';

export interface TokenWeight {
  readonly id: number;
  readonly token: string;
  readonly weight: number;
}

export interface FeatureLogitEffect {
  readonly feature: number;
  /** Largest weights first. */
  readonly promoted: readonly TokenWeight[];
  /** Most negative weights first. */
  readonly suppressed: readonly TokenWeight[];
}

interface LensSession {
  readonly session: ort.InferenceSession;
  readonly gain: ort.Tensor;
  readonly unembed: ort.Tensor;
}

// The graph takes the model's weights as inputs, so one session per model serves every SAE.
const sessions = new WeakMap<HookedModel, Promise<LensSession>>();

function lensSession(model: HookedModel): Promise<LensSession> {
  let s = sessions.get(model);
  if (!s) {
    s = createLensSession(model);
    sessions.set(model, s);
    s.catch(() => sessions.delete(model));
  }
  return s;
}

async function createLensSession(model: HookedModel): Promise<LensSession> {
  const D = model.spec.hiddenSize;
  // Dequantized once per model when the unembedding is packed (the lens session keeps it).
  const out = model.denseWeight('output.weight');
  if (!out || out.shape.length !== 2 || out.shape[0] !== D) {
    throw new InvalidInputError(`the model has no [${D}, vocab] unembedding (output.weight): cannot compute logit effects`);
  }
  const V = out.shape[1];
  const gainWeight = model.weights.get('output_norm.weight');
  const g = new GraphBuilder('feature_logit_lens');
  const dirs = g.input('dirs', 'float32', ['n', D]);
  const gain = g.input('gain', 'float32', [D]);
  const wU = g.input('W_U', 'float32', [D, V]);
  const k = g.input('k', 'int64', [1]);
  const logits = g.node('MatMul', [g.node('Mul', [dirs, gain], {}, 'dirs_scaled'), wU], {}, 'logit_weights');
  const [topV, topI] = g.nodeMulti('TopK', [logits, k], { axis: { i: -1 }, largest: { i: 1 }, sorted: { i: 1 } }, ['top.values', 'top.indices']);
  const [botV, botI] = g.nodeMulti('TopK', [logits, k], { axis: { i: -1 }, largest: { i: 0 }, sorted: { i: 1 } }, ['bottom.values', 'bottom.indices']);
  g.output(topV, 'float32', ['n', 'k']);
  g.output(topI, 'int64', ['n', 'k']);
  g.output(botV, 'float32', ['n', 'k']);
  g.output(botI, 'int64', ['n', 'k']);
  const session = await ort.InferenceSession.create(g.toBytes(), {
    intraOpNumThreads: model.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  return {
    session,
    gain: new ort.Tensor('float32', gainWeight?.data ?? new Float32Array(D).fill(1), [D]),
    unembed: new ort.Tensor('float32', out.data, [D, V]),
  };
}

/** The `top` most promoted and most suppressed tokens of each feature, in one MatMul. */
export async function featureLogitEffects(
  model: HookedModel,
  sae: Sae,
  features: readonly number[],
  opts: { top?: number } = {},
): Promise<FeatureLogitEffect[]> {
  checkSaeFitsModel(sae, { ...model.spec, name: model.source.name });
  if (features.length === 0) return [];
  for (const f of features) checkFeature(sae, f);
  const lens = await lensSession(model);
  const V = lens.unembed.dims[1];
  const top = opts.top ?? 10;
  if (!Number.isInteger(top) || top < 1) throw new InvalidInputError(`top must be a positive integer, got ${top}`);
  const k = Math.min(top, V);
  const D = sae.cfg.dIn;
  const n = features.length;
  const dirs = new Float32Array(n * D);
  features.forEach((f, i) => dirs.set(sae.weights.wDec.subarray(f * D, (f + 1) * D), i * D));
  const out = await lens.session.run({
    dirs: new ort.Tensor('float32', dirs, [n, D]),
    gain: lens.gain,
    W_U: lens.unembed,
    k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
  });
  const list = (values: string, indices: string, i: number): TokenWeight[] => {
    const v = out[values].data as Float32Array;
    const idx = out[indices].data as BigInt64Array;
    return Array.from({ length: k }, (_, j) => {
      const id = Number(idx[i * k + j]);
      return { id, token: tokenString(model, id), weight: v[i * k + j] };
    });
  };
  return features.map((feature, i) => ({
    feature,
    promoted: list('top.values', 'top.indices', i),
    suppressed: list('bottom.values', 'bottom.indices', i),
  }));
}

/**
 * A feature as a logit bias for decode-time steering: token id → strength × weight for the
 * `top` (default 50) most promoted tokens with a positive weight.
 */
export async function featureLogitBias(
  model: HookedModel,
  sae: Sae,
  feature: number,
  strength: number,
  opts: { top?: number } = {},
): Promise<Map<number, number>> {
  if (!Number.isFinite(strength)) throw new InvalidInputError(`strength must be a finite number, got ${strength}`);
  const [effect] = await featureLogitEffects(model, sae, [feature], { top: opts.top ?? 50 });
  return new Map(effect.promoted.filter((t) => t.weight > 0).map((t) => [t.id, strength * t.weight]));
}

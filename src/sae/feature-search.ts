/**
 * Finding features for a concept: contrast texts that show it with neutral ones (Goodfire's
 * "contrastive" search), or compare decoder directions with a vector (a steering vector, a
 * probe direction).
 */
import * as ort from 'onnxruntime-node';
import { hookName } from '../graph/hook-points.js';
import { GraphBuilder } from '../graph/onnx-builder.js';
import { InvalidInputError } from '../io/errors.js';
import { collectActivations } from '../runtime/activations.js';
import type { HookedModel } from '../runtime/model.js';
import { usesBos } from './activation-rows.js';
import { defaultCodeWidth, saeRunnerFor } from './runner-cache.js';
import { checkSaeFitsModel, type Sae } from './sae.js';
import { computeSessionOptions, defaultThreads } from '../graph/session-options.js';
import { createSession } from '../graph/create-session.js';

export interface FeatureMatch {
  readonly feature: number;
  /** meanPositive − meanNeutral ('activation' ranking) or freqPositive − freqNeutral ('specificity'). */
  readonly score: number;
  readonly meanPositive: number;
  readonly meanNeutral: number;
  /** Fraction of tokens ('tokens' pooling) or texts ('max' pooling) it fires on. */
  readonly freqPositive: number;
  readonly freqNeutral: number;
}

/**
 * 'max': a text's value is the feature's largest activation over its tokens, averaged over
 * texts (finds concept features that fire on a few tokens); 'tokens': the mean over all tokens.
 */
export type ContrastPooling = 'tokens' | 'max';

export interface ContrastOptions {
  /** Default 20. */
  readonly top?: number;
  /** Texts per forward pass (default 8). */
  readonly batchSize?: number;
  /** Default 'max'. */
  readonly pool?: ContrastPooling;
  /**
   * 'activation' (default): difference of pooled mean activations, favouring strong features;
   * 'specificity': difference of firing rates, favouring features that fire on the concept and
   * rarely elsewhere (word and entity features of small models).
   */
  readonly rank?: ContrastRanking;
}

export type ContrastRanking = 'activation' | 'specificity';

/** Texts whose activations are held in memory at once. */
const TEXT_GROUP = 64;
const ENCODE_CHUNK = 4096;

interface SetStats {
  readonly mean: Float64Array;
  readonly freq: Float64Array;
}

/** Per-feature pooled mean activation and firing frequency over a set of texts. */
async function setStats(model: HookedModel, sae: Sae, texts: readonly string[], pool: ContrastPooling, batchSize: number, what: string): Promise<SetStats> {
  if (texts.length === 0) throw new InvalidInputError(`no ${what} texts given`);
  const { dIn, dSae } = sae.cfg;
  const runner = saeRunnerFor(sae, model.threads);
  const m = defaultCodeWidth(sae);
  const skipFirst = usesBos(model) ? 1 : 0;
  const sum = new Float64Array(dSae);
  const fired = new Float64Array(dSae);
  const textMax = new Float32Array(dSae);
  let tokens = 0;
  for (let t0 = 0; t0 < texts.length; t0 += TEXT_GROUP) {
    const group = texts.slice(t0, t0 + TEXT_GROUP);
    const acts = await collectActivations(model, group, { points: [sae.cfg.hook], positions: 'all', batchSize });
    const x = acts.tensors.get(hookName(sae.cfg.hook))!;
    // Rows come text by text, in token order; the BOS row is no evidence about the text.
    const keep: number[] = [];
    const textOf: number[] = [];
    acts.rowIndex.forEach(([p, t], r) => {
      if (t < skipFirst) return;
      keep.push(r);
      textOf.push(p);
    });
    const seen = new Set(textOf);
    group.forEach((_, p) => {
      if (!seen.has(p)) throw new InvalidInputError(`${what} text ${t0 + p} has no tokens`);
    });
    tokens += keep.length;
    const touched: number[] = [];
    const flushText = (): void => {
      for (const f of touched) {
        sum[f] += textMax[f];
        fired[f] += 1;
        textMax[f] = 0;
      }
      touched.length = 0;
    };
    for (let c0 = 0; c0 < keep.length; c0 += ENCODE_CHUNK) {
      const n = Math.min(ENCODE_CHUNK, keep.length - c0);
      const rows = new Float32Array(n * dIn);
      for (let i = 0; i < n; i++) rows.set(x.subarray(keep[c0 + i] * dIn, (keep[c0 + i] + 1) * dIn), i * dIn);
      const codes = await runner.encodeSparse(rows, n, m);
      for (let i = 0; i < n; i++) {
        const text = textOf[c0 + i];
        if (pool === 'max' && c0 + i > 0 && textOf[c0 + i - 1] !== text) flushText();
        for (let j = 0; j < m; j++) {
          const v = codes.values[i * m + j];
          if (v <= 0) break; // sorted, largest first
          const f = codes.indices[i * m + j];
          if (pool === 'tokens') {
            sum[f] += v;
            fired[f] += 1;
          } else {
            if (textMax[f] === 0) touched.push(f);
            if (v > textMax[f]) textMax[f] = v;
          }
        }
      }
    }
    if (pool === 'max') flushText();
  }
  const denom = pool === 'max' ? texts.length : tokens;
  return { mean: sum.map((s) => s / denom), freq: fired.map((c) => c / denom) };
}

/**
 * Features that fire more on `positive` texts than on `neutral` ones, best first (see
 * ContrastOptions.rank for the score). Only features that fired
 * on either set are ranked. ReLU/JumpReLU SAEs count the 64 largest latents per token.
 */
export async function contrastFeatures(
  model: HookedModel,
  sae: Sae,
  positive: readonly string[],
  neutral: readonly string[],
  opts: ContrastOptions = {},
): Promise<FeatureMatch[]> {
  checkSaeFitsModel(sae, { ...model.spec, name: model.source.name });
  const top = opts.top ?? 20;
  const batchSize = opts.batchSize ?? 8;
  const pool = opts.pool ?? 'max';
  if (!Number.isInteger(top) || top < 1) throw new InvalidInputError(`top must be a positive integer, got ${top}`);
  if (pool !== 'max' && pool !== 'tokens') throw new InvalidInputError(`pool must be "max" or "tokens", got ${String(pool)}`);
  const rank = opts.rank ?? 'activation';
  if (rank !== 'activation' && rank !== 'specificity') throw new InvalidInputError(`rank must be "activation" or "specificity", got ${String(rank)}`);
  const pos = await setStats(model, sae, positive, pool, batchSize, 'positive');
  const neu = await setStats(model, sae, neutral, pool, batchSize, 'neutral');
  const matches: FeatureMatch[] = [];
  for (let f = 0; f < sae.cfg.dSae; f++) {
    if (pos.freq[f] === 0 && neu.freq[f] === 0) continue;
    const score = rank === 'activation' ? pos.mean[f] - neu.mean[f] : pos.freq[f] - neu.freq[f];
    matches.push({ feature: f, score, meanPositive: pos.mean[f], meanNeutral: neu.mean[f], freqPositive: pos.freq[f], freqNeutral: neu.freq[f] });
  }
  return matches.sort((a, b) => b.score - a.score || a.feature - b.feature).slice(0, top);
}

export interface VectorMatch {
  readonly feature: number;
  readonly cosine: number;
}

interface CosineSession {
  readonly session: ort.InferenceSession;
  readonly wDec: ort.Tensor;
}

const cosineSessions = new WeakMap<Sae, Promise<CosineSession>>();

function cosineSession(sae: Sae, threads: number): Promise<CosineSession> {
  let s = cosineSessions.get(sae);
  if (!s) {
    const { dIn, dSae } = sae.cfg;
    const g = new GraphBuilder('decoder_cosines');
    const w = g.input('W_dec', 'float32', [dSae, dIn]);
    const v = g.input('v', 'float32', [dIn, 1]);
    const k = g.input('k', 'int64', [1]);
    const norms = g.node('Max', [g.node('ReduceL2', [w, g.constInt64([1])], { keepdims: { i: 1 } }, 'row_norm'), g.constFloat([1e-12], [])], {}, 'row_norm_safe');
    const cos = g.node('Reshape', [g.node('Div', [g.node('MatMul', [w, v], {}, 'dots'), norms], {}, 'cos_col'), g.constInt64([dSae])], {}, 'cos');
    const [values, indices] = g.nodeMulti('TopK', [cos, k], { axis: { i: -1 }, largest: { i: 1 }, sorted: { i: 1 } }, ['top.values', 'top.indices']);
    g.output(values, 'float32', ['k']);
    g.output(indices, 'int64', ['k']);
    s = createSession(g.toBytes(), computeSessionOptions(threads)).then((session) => ({
      session,
      wDec: new ort.Tensor('float32', sae.weights.wDec, [dSae, dIn]),
    }));
    cosineSessions.set(sae, s);
    s.catch(() => cosineSessions.delete(sae));
  }
  return s;
}

/**
 * The `top` (default 20) features whose decoder rows point most along `vector`, by cosine,
 * largest first. For the most anti-aligned features, pass the negated vector.
 */
export async function featuresNearVector(sae: Sae, vector: Float32Array, opts: { top?: number; threads?: number } = {}): Promise<VectorMatch[]> {
  const { dIn, dSae } = sae.cfg;
  if (vector.length !== dIn) throw new InvalidInputError(`the vector has ${vector.length} values but the SAE reads ${dIn}-wide activations`);
  const top = opts.top ?? 20;
  if (!Number.isInteger(top) || top < 1) throw new InvalidInputError(`top must be a positive integer, got ${top}`);
  let sq = 0;
  for (const x of vector) sq += x * x;
  const norm = Math.sqrt(sq);
  if (!Number.isFinite(norm) || norm === 0) throw new InvalidInputError('the vector must be non-zero and finite');
  const unit = vector.map((x) => x / norm);
  const k = Math.min(top, dSae);
  const { session, wDec } = await cosineSession(sae, opts.threads ?? defaultThreads());
  const out = await session.run({ W_dec: wDec, v: new ort.Tensor('float32', unit, [dIn, 1]), k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]) });
  const values = out['top.values'].data as Float32Array;
  const indices = out['top.indices'].data as BigInt64Array;
  return Array.from({ length: k }, (_, i) => ({ feature: Number(indices[i]), cosine: values[i] }));
}

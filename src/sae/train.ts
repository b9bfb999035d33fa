import fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { z } from 'zod/v4';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import { GraphBuilder } from '../graph/onnx-builder.js';
import { HOOK_SITES, type HookPoint } from '../graph/hook-points.js';
import { createRng } from '../runtime/rng.js';
import { buildTrainStep, TRAIN_PARAMS, type TrainParam } from './sae-graphs.js';
import { validateSae, type Sae } from './sae.js';
import { computeSessionOptions, defaultThreads } from '../graph/session-options.js';
import { createSession } from '../graph/create-session.js';

/**
 * TopK SAE training (Gao et al. 2024, as in EleutherAI's sparsify): unit-norm decoder rows,
 * encoder initialised as the decoder's transpose, b_dec at the data mean, AuxK loss on dead
 * latents, Adam with linear warmup and a linear decay over the last part of training.
 * Each step is one ORT graph (sae-graphs.ts buildTrainStep).
 */

export interface TrainSaeOptions {
  readonly dIn: number;
  readonly dSae: number;
  readonly k: number;
  readonly hook: HookPoint;
  readonly modelName?: string;
  /** Rows per step (default 4096). */
  readonly batchSize?: number;
  /** Stop after this many steps. */
  readonly steps: number;
  /** Peak learning rate (default 2e-4 / √(dSae / 16384), sparsify's rule). */
  readonly lr?: number;
  readonly warmupSteps?: number;
  /** Fraction of steps at the end over which the rate decays linearly to 0 (default 0.2). */
  readonly decayFraction?: number;
  /** AuxK coefficient (default 1/32) and latents per token (default dIn / 2). */
  readonly auxCoef?: number;
  readonly kAux?: number;
  /** A latent silent for this many tokens counts as dead (default: min(1M, a tenth of the run)). */
  readonly deadTokens?: number;
  /** 'auto': scale inputs so their mean norm is √dIn (SAELens' expected_average_only_in). */
  readonly inputScale?: number | 'auto';
  readonly applyBDecToInput?: boolean;
  readonly seed?: number;
  readonly threads?: number;
  /** Write a checkpoint every N steps (and at the end) to this file. */
  readonly checkpoint?: { readonly path: string; readonly everySteps: number };
  /** Resume from a checkpoint written by an earlier run with the same options. */
  readonly resumeFrom?: string;
  readonly onStep?: (m: StepMetrics) => void;
  readonly signal?: AbortSignal;
}

export interface StepMetrics {
  readonly step: number;
  readonly tokens: number;
  readonly fvu: number;
  readonly l0: number;
  readonly deadFraction: number;
  readonly auxLoss: number;
  readonly lr: number;
}

export interface TrainSaeResult {
  readonly sae: Sae;
  readonly history: readonly StepMetrics[];
  readonly steps: number;
  readonly tokens: number;
  /** Tokens since each latent last fired, at the end. */
  readonly silentTokens: Float64Array;
  readonly interrupted: boolean;
}

const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
const CHECKPOINT_KEY = 'steerer_sae_checkpoint';

interface TrainState {
  params: Record<TrainParam, Float32Array>;
  m: Record<TrainParam, Float32Array>;
  v: Record<TrainParam, Float32Array>;
  silent: Float64Array;
  step: number;
  tokens: number;
  inputScale: number;
}

/** Tokens of silence after which a latent counts as dead, unless given: min(1M, a tenth of the run). */
export function defaultDeadTokens(steps: number, batchSize: number): number {
  return Math.max(batchSize, Math.min(1_000_000, Math.floor((steps * batchSize) / 10)));
}

function defaultLearningRate(dSae: number): number {
  return 2e-4 / Math.sqrt(dSae / 16384);
}

/** Learning rate at a step: linear warmup, constant, linear decay to 0 over the last part. */
export function learningRateAt(step: number, total: number, peak: number, warmup: number, decayFraction: number): number {
  const warm = warmup > 0 ? Math.min(1, (step + 1) / warmup) : 1;
  const decaySteps = Math.floor(total * decayFraction);
  const decayStart = total - decaySteps;
  const decay = decaySteps > 0 && step >= decayStart ? Math.max(0, (total - step) / decaySteps) : 1;
  return peak * warm * decay;
}

/** Trains on batches of [batchSize, dIn] rows (raw activations) until `steps` or the data ends. */
export async function trainSae(batches: AsyncIterable<Float32Array>, opts: TrainSaeOptions): Promise<TrainSaeResult> {
  const { dIn, dSae, k } = opts;
  const batchSize = opts.batchSize ?? 4096;
  checkOptions(opts, batchSize);
  const kAux = Math.min(opts.kAux ?? Math.max(1, Math.floor(dIn / 2)), dSae);
  const auxCoef = opts.auxCoef ?? 1 / 32;
  const peak = opts.lr ?? defaultLearningRate(dSae);
  const warmup = opts.warmupSteps ?? Math.min(1000, Math.floor(opts.steps / 10));
  const decayFraction = opts.decayFraction ?? 0.2;
  const deadTokens = opts.deadTokens ?? defaultDeadTokens(opts.steps, batchSize);
  const applyBDec = opts.applyBDecToInput ?? true;

  const sessionOpts: ort.InferenceSession.SessionOptions = computeSessionOptions(opts.threads ?? defaultThreads());
  const build = (aux: boolean): Promise<ort.InferenceSession> => {
    const g = new GraphBuilder(aux ? 'sae_train_aux' : 'sae_train');
    buildTrainStep(g, { dIn, dSae, k, kAux: aux ? kAux : 0, applyBDecToInput: applyBDec }, ADAM);
    return createSession(g.toBytes(), sessionOpts);
  };
  const [plain, withAux] = await Promise.all([build(false), build(true)]);

  let state: TrainState | undefined = opts.resumeFrom ? readCheckpoint(opts.resumeFrom, opts) : undefined;
  const skip = state?.step ?? 0;
  const history: StepMetrics[] = [];
  let seen = 0;
  let interrupted = false;

  for await (const batch of batches) {
    if (opts.signal?.aborted) {
      interrupted = true;
      break;
    }
    if (batch.length !== batchSize * dIn) throw new InvalidInputError(`a batch has ${batch.length} values, expected ${batchSize} × ${dIn}`);
    // Resuming: the data source replays the same order, so skip what was already trained on.
    if (seen++ < skip) continue;
    state ??= initialState(batch, opts, batchSize, applyBDec);
    if (state.step >= opts.steps) break;

    const lr = learningRateAt(state.step, opts.steps, peak, warmup, decayFraction);
    const t = state.step + 1;
    const lrT = (lr * Math.sqrt(1 - ADAM.beta2 ** t)) / (1 - ADAM.beta1 ** t);
    const dead = new Float32Array(dSae);
    let numDead = 0;
    for (let i = 0; i < dSae; i++) {
      if (state.silent[i] >= deadTokens) {
        dead[i] = 1;
        numDead++;
      }
    }
    const session = numDead > 0 ? withAux : plain;
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', batch, [batchSize, dIn]),
      scale: new ort.Tensor('float32', Float32Array.of(state.inputScale), [1]),
      lr: new ort.Tensor('float32', Float32Array.of(lrT), [1]),
    };
    const dims: Record<TrainParam, number[]> = { W_enc: [dIn, dSae], b_enc: [dSae], W_dec: [dSae, dIn], b_dec: [dIn] };
    for (const name of TRAIN_PARAMS) {
      feeds[name] = new ort.Tensor('float32', state.params[name], dims[name]);
      feeds[`m.${name}`] = new ort.Tensor('float32', state.m[name], dims[name]);
      feeds[`v.${name}`] = new ort.Tensor('float32', state.v[name], dims[name]);
    }
    if (numDead > 0) {
      feeds.dead = new ort.Tensor('float32', dead, [dSae]);
      feeds.aux_scale = new ort.Tensor('float32', Float32Array.of(auxCoef * Math.min(1, numDead / kAux)), [1]);
    }
    const out = await session.run(feeds);
    const f32 = (name: string): Float32Array => out[name].data as Float32Array;
    for (const name of TRAIN_PARAMS) {
      state.params[name] = f32(`next.${name}`);
      state.m[name] = f32(`next.m.${name}`);
      state.v[name] = f32(`next.v.${name}`);
    }
    const fired = f32('out.fired');
    let active = 0;
    for (let i = 0; i < dSae; i++) {
      active += fired[i];
      state.silent[i] = fired[i] > 0 ? 0 : state.silent[i] + batchSize;
    }
    state.step++;
    state.tokens += batchSize;
    const sse = f32('out.sse')[0];
    const sst = f32('out.sst')[0];
    if (!Number.isFinite(sse)) throw new InvalidInputError(`training diverged at step ${state.step} (non-finite loss); lower the learning rate`);
    const metrics: StepMetrics = {
      step: state.step,
      tokens: state.tokens,
      fvu: sse / sst,
      l0: active / batchSize,
      deadFraction: numDead / dSae,
      auxLoss: f32('out.aux')[0],
      lr,
    };
    history.push(metrics);
    opts.onStep?.(metrics);
    if (opts.checkpoint && state.step % opts.checkpoint.everySteps === 0) writeCheckpoint(opts.checkpoint.path, state, opts);
    if (state.step >= opts.steps) break;
  }
  if (!state) throw new InvalidInputError('no training data: the activation source yielded no batch');
  if (opts.checkpoint) writeCheckpoint(opts.checkpoint.path, state, opts);
  const sae = toSae(state, opts, applyBDec);
  return { sae, history, steps: state.step, tokens: state.tokens, silentTokens: state.silent, interrupted };
}

function checkOptions(o: TrainSaeOptions, batchSize: number): void {
  const posInt = (v: number, name: string): void => {
    if (!Number.isInteger(v) || v < 1) throw new InvalidInputError(`${name} must be a positive integer, got ${v}`);
  };
  posInt(o.dIn, 'dIn');
  posInt(o.dSae, 'dSae');
  posInt(o.k, 'k');
  posInt(o.steps, 'steps');
  posInt(batchSize, 'batchSize');
  if (o.k > o.dSae) throw new InvalidInputError(`k (${o.k}) cannot exceed the number of latents (${o.dSae})`);
  if (o.lr !== undefined && !(o.lr > 0 && Number.isFinite(o.lr))) throw new InvalidInputError(`lr must be a positive number, got ${o.lr}`);
  if (typeof o.inputScale === 'number' && !(o.inputScale > 0 && Number.isFinite(o.inputScale))) {
    throw new InvalidInputError(`inputScale must be a positive number or "auto", got ${o.inputScale}`);
  }
  if (o.checkpoint) posInt(o.checkpoint.everySteps, 'checkpoint.everySteps');
}

function initialState(first: Float32Array, o: TrainSaeOptions, batchSize: number, applyBDec: boolean): TrainState {
  const { dIn, dSae } = o;
  let inputScale = typeof o.inputScale === 'number' ? o.inputScale : 1;
  if (o.inputScale === 'auto' || o.inputScale === undefined) {
    let norms = 0;
    for (let r = 0; r < batchSize; r++) {
      let s = 0;
      for (let d = 0; d < dIn; d++) s += first[r * dIn + d] ** 2;
      norms += Math.sqrt(s);
    }
    const mean = norms / batchSize;
    inputScale = mean > 0 ? Math.sqrt(dIn) / mean : 1;
  }
  // Decoder rows: random unit vectors; encoder: their transpose (a good start for TopK).
  const rng = createRng(o.seed ?? 0);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rng.nextFloat())) * Math.cos(2 * Math.PI * rng.nextFloat());
  const wDec = new Float32Array(dSae * dIn);
  for (let i = 0; i < dSae; i++) {
    let n = 0;
    for (let d = 0; d < dIn; d++) {
      const v = gauss();
      wDec[i * dIn + d] = v;
      n += v * v;
    }
    n = Math.sqrt(n);
    for (let d = 0; d < dIn; d++) wDec[i * dIn + d] /= n;
  }
  const wEnc = new Float32Array(dIn * dSae);
  for (let i = 0; i < dSae; i++) for (let d = 0; d < dIn; d++) wEnc[d * dSae + i] = wDec[i * dIn + d];
  const bDec = new Float32Array(dIn);
  if (applyBDec) {
    for (let r = 0; r < batchSize; r++) for (let d = 0; d < dIn; d++) bDec[d] += (first[r * dIn + d] * inputScale) / batchSize;
  }
  const params: Record<TrainParam, Float32Array> = { W_enc: wEnc, b_enc: new Float32Array(dSae), W_dec: wDec, b_dec: bDec };
  const zeros = (): Record<TrainParam, Float32Array> => ({
    W_enc: new Float32Array(dIn * dSae),
    b_enc: new Float32Array(dSae),
    W_dec: new Float32Array(dSae * dIn),
    b_dec: new Float32Array(dIn),
  });
  return { params, m: zeros(), v: zeros(), silent: new Float64Array(dSae), step: 0, tokens: 0, inputScale };
}

function toSae(s: TrainState, o: TrainSaeOptions, applyBDec: boolean): Sae {
  return validateSae({
    cfg: {
      dIn: o.dIn,
      dSae: o.dSae,
      activation: { kind: 'topk', k: o.k },
      hook: o.hook,
      applyBDecToInput: applyBDec,
      inputScale: s.inputScale,
      modelName: o.modelName,
      format: 'steerer',
    },
    weights: { wEnc: s.params.W_enc, bEnc: s.params.b_enc, wDec: s.params.W_dec, bDec: s.params.b_dec },
  });
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: parameters, Adam moments and silence counters in one safetensors file.

const CheckpointMeta = z.object({
  format: z.literal('steerer.sae-checkpoint/v1'),
  step: z.number().int().nonnegative(),
  tokens: z.number().int().nonnegative(),
  inputScale: z.number().positive(),
  dIn: z.number().int().positive(),
  dSae: z.number().int().positive(),
  k: z.number().int().positive(),
  hook: z.object({ layer: z.number().int().nonnegative(), site: z.enum(HOOK_SITES) }),
});

function writeCheckpoint(path: string, s: TrainState, o: TrainSaeOptions): void {
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  const dims: Record<TrainParam, number[]> = { W_enc: [o.dIn, o.dSae], b_enc: [o.dSae], W_dec: [o.dSae, o.dIn], b_dec: [o.dIn] };
  for (const name of TRAIN_PARAMS) {
    tensors[name] = { shape: dims[name], data: s.params[name] };
    tensors[`m.${name}`] = { shape: dims[name], data: s.m[name] };
    tensors[`v.${name}`] = { shape: dims[name], data: s.v[name] };
  }
  tensors.silent = { shape: [o.dSae], data: Float32Array.from(s.silent) };
  const meta: z.input<typeof CheckpointMeta> = {
    format: 'steerer.sae-checkpoint/v1',
    step: s.step,
    tokens: s.tokens,
    inputScale: s.inputScale,
    dIn: o.dIn,
    dSae: o.dSae,
    k: o.k,
    hook: o.hook,
  };
  writeSafetensors(path, tensors, { [CHECKPOINT_KEY]: JSON.stringify(meta) });
}

function readCheckpoint(path: string, o: TrainSaeOptions): TrainState {
  if (!fs.existsSync(path)) throw new InvalidInputError(`checkpoint ${path} not found`);
  const file = SafetensorsFile.open(path);
  try {
    const raw = file.metadata[CHECKPOINT_KEY];
    if (raw === undefined) throw new ModelFileError(path, 'not an SAE training checkpoint (no steerer_sae_checkpoint metadata)');
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new ModelFileError(path, 'checkpoint metadata is not valid JSON');
    }
    const r = CheckpointMeta.safeParse(json);
    if (!r.success) throw new ModelFileError(path, `checkpoint metadata is invalid: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const meta = r.data;
    const differs = (['dIn', 'dSae', 'k'] as const).filter((key) => meta[key] !== o[key]);
    if (meta.hook.layer !== o.hook.layer || meta.hook.site !== o.hook.site) differs.push('hook' as never);
    if (differs.length) throw new InvalidInputError(`checkpoint ${path} was made with different ${differs.join(', ')}; resume with the same options`);
    const read = (name: string, n: number): Float32Array => {
      const t = file.readF32(name);
      if (t.length !== n) throw new ModelFileError(path, `tensor ${name} has ${t.length} values, expected ${n}`);
      return t;
    };
    const sizes: Record<TrainParam, number> = { W_enc: o.dIn * o.dSae, b_enc: o.dSae, W_dec: o.dSae * o.dIn, b_dec: o.dIn };
    const pick = (prefix: string): Record<TrainParam, Float32Array> => ({
      W_enc: read(`${prefix}W_enc`, sizes.W_enc),
      b_enc: read(`${prefix}b_enc`, sizes.b_enc),
      W_dec: read(`${prefix}W_dec`, sizes.W_dec),
      b_dec: read(`${prefix}b_dec`, sizes.b_dec),
    });
    return {
      params: pick(''),
      m: pick('m.'),
      v: pick('v.'),
      silent: Float64Array.from(read('silent', o.dSae)),
      step: meta.step,
      tokens: meta.tokens,
      inputScale: meta.inputScale,
    };
  } finally {
    file.close();
  }
}

import { InvalidInputError } from '../io/errors.js';
import type { HookedModel } from '../runtime/model.js';
import { thinHistory, type SaeTrainingReport } from './training-report.js';
import { ActivationStore } from './activation-store.js';
import { evaluateSaeOnModel } from './sae-eval.js';
import { saeRunnerFor } from './runner-cache.js';
import type { Sae } from './sae.js';
import { defaultDeadTokens, trainSae, type StepMetrics, type TrainSaeOptions } from './train.js';
import { defaultThreads } from '../graph/session-options.js';

/**
 * Trains an SAE on a stored activation set and measures it the standard ways: FVU, L0 and dead
 * latents on a held-out shard (documents it never saw), and, given the model, the next-token
 * loss with the hook point replaced by reconstructions (CE loss recovered).
 */
export interface StoreTrainingOptions extends Omit<TrainSaeOptions, 'dIn' | 'hook' | 'steps' | 'modelName' | 'dSae'> {
  readonly dSae: number;
  /** Training tokens (rows); default: 4 passes over the training shards. */
  readonly tokens?: number;
  /** Shards kept out of training for evaluation (default 1 when the store has several). */
  readonly holdoutShards?: number;
  /** For CE loss recovered on the held-out documents. */
  readonly model?: HookedModel;
  /** Held-out contexts the model-level evaluation runs (default 64). */
  readonly evalContexts?: number;
  readonly onEvalProgress?: (done: number, total: number) => void;
}

export interface StoreTrainingResult {
  readonly sae: Sae;
  readonly report: SaeTrainingReport;
  readonly interrupted: boolean;
}

export async function trainSaeOnStore(store: ActivationStore, opts: StoreTrainingOptions): Promise<StoreTrainingResult> {
  const started = performance.now();
  const batchSize = opts.batchSize ?? 4096;
  const shardCount = store.manifest.shards.length;
  const holdout = opts.holdoutShards ?? (shardCount >= 2 ? 1 : 0);
  if (!Number.isInteger(holdout) || holdout < 0 || holdout >= shardCount) {
    throw new InvalidInputError(`holdoutShards must be an integer in 0..${shardCount - 1} (the store has ${shardCount} shards)`);
  }
  const trainShards = Array.from({ length: shardCount - holdout }, (_, i) => i);
  const heldShards = Array.from({ length: holdout }, (_, i) => shardCount - holdout + i);
  const trainRows = trainShards.reduce((n, i) => n + store.manifest.shards[i].rows, 0);
  const perEpoch = Math.floor(trainRows / batchSize);
  if (perEpoch < 1) throw new InvalidInputError(`the training shards hold ${trainRows} rows, fewer than one batch of ${batchSize}; collect more or lower the batch size`);
  const tokens = opts.tokens ?? 4 * perEpoch * batchSize;
  const steps = Math.max(1, Math.floor(tokens / batchSize));
  const epochs = Math.ceil(steps / perEpoch);

  const trained = await trainSae(store.batches({ batchSize, seed: opts.seed ?? 0, epochs, shards: trainShards }), {
    ...opts,
    dIn: store.dim,
    hook: store.manifest.point,
    modelName: store.manifest.model.name,
    steps,
    batchSize,
  });
  let sae = trained.sae;
  const window = opts.deadTokens ?? defaultDeadTokens(steps, batchSize);
  let dead = 0;
  for (const s of trained.silentTokens) if (s >= window) dead++;

  let heldOut: SaeTrainingReport['heldOut'];
  let modelEval: SaeTrainingReport['modelEval'];
  if (heldShards.length > 0) {
    const runner = saeRunnerFor(sae, opts.threads ?? defaultThreads());
    let sse = 0;
    let sst = 0;
    let active = 0;
    let rows = 0;
    const fired = new Float64Array(sae.cfg.dSae);
    for (const i of heldShards) {
      const shard = store.readShard(i);
      const s = await runner.stats(shard.acts, shard.rows);
      sse += s.sse;
      sst += s.sst;
      active += s.l0 * s.rows;
      rows += s.rows;
      s.fired.forEach((f, j) => (fired[j] += f));
    }
    heldOut = { rows, fvu: sse / sst, l0: active / rows, deadFraction: fired.filter((f) => f === 0).length / sae.cfg.dSae };
    if (opts.model) {
      const contexts = heldOutContexts(store, heldShards, opts.model, opts.evalContexts ?? 64);
      if (contexts.length > 0) modelEval = await evaluateSaeOnModel(opts.model, sae, contexts, { onProgress: opts.onEvalProgress });
    }
  }
  const summaryHistory: StepMetrics[] = thinHistory(trained.history);
  const last = trained.history.at(-1);
  sae = {
    ...sae,
    cfg: {
      ...sae.cfg,
      training: {
        tokens: trained.tokens,
        steps: trained.steps,
        fvu: heldOut?.fvu ?? last?.fvu ?? NaN,
        l0: heldOut?.l0 ?? last?.l0 ?? NaN,
        deadFraction: dead / sae.cfg.dSae,
        ceLossRecovered: modelEval?.ceLossRecovered,
        cleanLoss: modelEval?.cleanLoss,
        saeLoss: modelEval?.saeLoss,
        zeroAblationLoss: modelEval?.zeroLoss,
        corpus: store.dir,
      },
    },
  };
  const report: SaeTrainingReport = {
    format: 'steerer.sae-report/v1',
    createdAt: new Date().toISOString(),
    model: store.manifest.model.name,
    hook: store.manifest.point,
    dIn: sae.cfg.dIn,
    dSae: sae.cfg.dSae,
    k: opts.k,
    steps: trained.steps,
    tokens: trained.tokens,
    seconds: (performance.now() - started) / 1000,
    heldOut,
    deadFraction: dead / sae.cfg.dSae,
    modelEval,
    history: summaryHistory,
  };
  return { sae, report, interrupted: trained.interrupted };
}

/**
 * The held-out shards' documents as model inputs again: each document's tokens in order, cut
 * into the store's context size, BOS first when the model uses one (as they were collected).
 */
export function heldOutContexts(store: ActivationStore, shards: readonly number[], model: HookedModel, limit: number): number[][] {
  if (store.manifest.model.hiddenSize !== model.spec.hiddenSize) {
    throw new InvalidInputError(`the store was collected from a model with hidden size ${store.manifest.model.hiddenSize}, not ${model.spec.hiddenSize}`);
  }
  const bos = model.spec.addBos && model.spec.bosTokenId !== undefined ? model.spec.bosTokenId : undefined;
  const body = store.manifest.contextSize - (bos === undefined ? 0 : 1);
  const contexts: number[][] = [];
  for (const i of shards) {
    const { tokens, doc, pos, rows } = store.readShard(i);
    let r = 0;
    while (r < rows && contexts.length < limit) {
      const d = doc[r];
      const ids: number[] = [];
      for (; r < rows && doc[r] === d; r++) if (tokens[r] !== bos || pos[r] !== 0) ids.push(tokens[r]);
      for (let s = 0; s < ids.length && contexts.length < limit; s += body) {
        const chunk = ids.slice(s, s + body);
        const ctx = bos === undefined ? chunk : [bos, ...chunk];
        if (ctx.length >= 2) contexts.push(ctx);
      }
    }
  }
  return contexts;
}

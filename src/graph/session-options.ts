import os from 'node:os';
import type * as ort from 'onnxruntime-node';
import { InvalidInputError } from '../io/errors.js';

/**
 * Options for the small CPU sessions outside the model runtime (vector maths, probes, SAE
 * training and search, logit lens): `threads` intra-op threads and no spin-waiting. These
 * sessions run between JS steps and beside other sessions; ONNX Runtime's default spinning
 * keeps idle threads busy after every run, which on a 2-core machine takes the cores the
 * JS work and the next session need (measured on the model runtime: runtime/session-cache.ts).
 */
export function computeSessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    extra: { session: { 'intra_op.allow_spinning': '0' } },
  };
}

/**
 * ONNX Runtime threads when nobody says: STEERER_THREADS if set (a positive integer, as
 * OMP_NUM_THREADS is for other engines: 1 per process when several processes share the cores,
 * as the test runner's do), else every core.
 */
export function defaultThreads(): number {
  const env = process.env.STEERER_THREADS;
  if (env === undefined || env === '') return os.availableParallelism();
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1 || n > 4096) throw new InvalidInputError(`STEERER_THREADS must be a positive integer, got ${JSON.stringify(env)}`);
  return n;
}

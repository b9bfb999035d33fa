import type * as ort from 'onnxruntime-node';

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

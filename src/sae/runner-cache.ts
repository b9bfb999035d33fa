import { SaeRunner } from './sae-runner.js';
import type { Sae } from './sae.js';

// One runner per (SAE, thread count): its ORT sessions are built once and reused by every
// exploration call on that SAE; the cache dies with the SAE object.
const runners = new WeakMap<Sae, Map<number, SaeRunner>>();

export function saeRunnerFor(sae: Sae, threads: number): SaeRunner {
  let byThreads = runners.get(sae);
  if (!byThreads) {
    byThreads = new Map();
    runners.set(sae, byThreads);
  }
  let runner = byThreads.get(threads);
  if (!runner) {
    runner = new SaeRunner(sae, { threads });
    byThreads.set(threads, runner);
  }
  return runner;
}

/** Sparse-code width that holds every active latent of a TopK SAE, else the 64 largest. */
export function defaultCodeWidth(sae: Sae): number {
  return Math.min(sae.cfg.activation.kind === 'topk' ? sae.cfg.activation.k : 64, sae.cfg.dSae);
}

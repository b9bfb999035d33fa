import type { HookPoint } from '../graph/hook-points.js';
import type { SaeModelEval } from './sae-eval.js';
import type { StepMetrics } from './train.js';

/** What `steerer sae train` measured, as JSON (and rendered as HTML below). */
export interface SaeTrainingReport {
  readonly format: 'steerer.sae-report/v1';
  readonly createdAt: string;
  readonly model: string;
  readonly hook: HookPoint;
  readonly dIn: number;
  readonly dSae: number;
  readonly k: number;
  readonly steps: number;
  readonly tokens: number;
  readonly seconds: number;
  /** Held-out reconstruction (rows the SAE never trained on). */
  readonly heldOut?: { readonly rows: number; readonly fvu: number; readonly l0: number; readonly deadFraction: number };
  /** Latents silent for the dead-token window at the end of training. */
  readonly deadFraction: number;
  readonly modelEval?: SaeModelEval;
  /** Every n-th step's metrics (the curve). */
  readonly history: readonly StepMetrics[];
}

/** Keeps about `n` evenly spaced points of a long history (the last one always). */
export function thinHistory(history: readonly StepMetrics[], n = 200): StepMetrics[] {
  if (history.length <= n) return [...history];
  const every = Math.ceil(history.length / n);
  return history.filter((_, i) => i % every === 0 || i === history.length - 1);
}

import type { HookSite } from '../graph/hook-points.js';
import type { AutoSelection, CurvePoint, ExamplePair } from '../steering/auto-record.js';
import type { LayerDiagnostics } from '../steering/vector.js';
import type { JudgeScores } from './judge.js';
import type { VectorExplanation } from '../explore/explain-vector.js';

type CoherenceBudget = AutoSelection['budget'];

/** Everything `steerer eval` and `steerer vector create --concept` measured, as JSON. */
export interface EvalReport {
  readonly format: 'steerer.eval-report/v1';
  readonly createdAt: string;
  readonly model: string;
  readonly vector: string;
  readonly concept?: string;
  readonly neutral?: string;
  readonly layer: number;
  readonly site: HookSite;
  /** The coefficient the capability numbers and examples are for. */
  readonly coefficient: number;
  readonly metric: string;
  readonly budget?: CoherenceBudget;
  /** Coefficient sweep (or the strength search's evaluations). */
  readonly curve: readonly CurvePoint[];
  readonly diagnostics?: readonly LayerDiagnostics[];
  readonly selection?: AutoSelection;
  readonly capability?: readonly CapabilityRow[];
  readonly judge?: { readonly model: string; readonly base: JudgeScores; readonly steered: JudgeScores; readonly unparsed: number };
  readonly examples: readonly ExamplePair[];
  /** What the vector means (logit lens, index passages, similar vectors). */
  readonly explanation?: VectorExplanation;
}

export interface CapabilityRow {
  readonly name: string;
  readonly metric: string;
  readonly n: number;
  readonly base: number;
  readonly steered: number;
  readonly relativeChange: number;
}

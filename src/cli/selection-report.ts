import path from 'node:path';
import type { DecodingSpec } from '../decoding/decoding-spec.js';
import type { DecodingPlan } from '../decoding/plan.js';

/** What best-of-N ranked candidates by, in words (the plan knows the probe layer it settled on). */
export function selectionScorer(spec: DecodingSpec | undefined, plan: DecodingPlan | undefined): string {
  const by = spec?.select?.by;
  if (by === undefined || by === 'perplexity') return 'mean log-probability of its tokens under the unsteered model (perplexity; higher is better)';
  const scorer = plan?.select?.by;
  const layer = scorer !== undefined && scorer !== 'perplexity' ? scorer.point.layer : by.layer;
  const rel = path.relative(process.cwd(), by.probe);
  const file = rel.startsWith('..') || path.isAbsolute(rel) ? by.probe : rel;
  return `probe ${file}${by.class ? ` (class ${by.class})` : ''}${layer === undefined ? '' : ` at layer ${layer}`} (higher is better)`;
}

/**
 * One line per candidate: its final score, what scored it, and which one was kept. With
 * re-selection every N tokens, the scores are those of the last round.
 */
export function selectionLines(selection: { readonly scores: readonly number[]; readonly chosen: number }, scorer: string, every?: number): string[] {
  const k = selection.scores.length;
  const head = `best-of-${k}${every ? ` (re-selected every ${every} tokens, last round)` : ''}`;
  return selection.scores.map((s, j) => `${head}: candidate ${j + 1} scored ${Number.isFinite(s) ? Number(s.toPrecision(5)) : String(s)} by ${scorer}${j === selection.chosen ? ' ← kept' : ''}`);
}

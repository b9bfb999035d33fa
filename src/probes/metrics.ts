import { InvalidInputError } from '../io/errors.js';

/**
 * Probe metrics. Each returns undefined where the metric is not defined on the data (AUROC with
 * one class missing, R² of a constant target), so callers can leave it out of a report.
 */

function sameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>, what: string): void {
  if (a.length !== b.length) throw new InvalidInputError(`${what}: ${a.length} predictions but ${b.length} targets`);
}

/** Fraction of predictions equal to the targets (undefined for no examples). */
export function accuracy(predicted: ArrayLike<number>, actual: ArrayLike<number>): number | undefined {
  sameLength(predicted, actual, 'accuracy');
  if (actual.length === 0) return undefined;
  let hits = 0;
  for (let i = 0; i < actual.length; i++) if (predicted[i] === actual[i]) hits++;
  return hits / actual.length;
}

/**
 * Area under the ROC curve of `scores` for `positive` (truthy = positive): the Mann–Whitney U
 * statistic from average ranks, so tied scores count half. O(n log n).
 */
export function auroc(scores: ArrayLike<number>, positive: ArrayLike<number | boolean>): number | undefined {
  sameLength(scores, positive, 'AUROC');
  const n = scores.length;
  for (let i = 0; i < n; i++) if (Number.isNaN(scores[i])) throw new InvalidInputError('AUROC: a score is NaN');
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let nPos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const rank = (i + j) / 2 + 1; // ranks are 1-based; a tie group shares its mean rank
    for (let k = i; k <= j; k++) {
      if (positive[order[k]]) {
        nPos++;
        rankSum += rank;
      }
    }
    i = j + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return undefined;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * Macro one-vs-rest AUROC: `scores` is [rows, classCount] (each class's own score), `labels` the
 * class index per row; the mean over classes present with both positives and negatives.
 */
export function macroAuroc(scores: ArrayLike<number>, labels: ArrayLike<number>, classCount: number): number | undefined {
  const rows = labels.length;
  if (scores.length !== rows * classCount) throw new InvalidInputError(`macro AUROC: ${scores.length} scores for ${rows} rows × ${classCount} classes`);
  let sum = 0;
  let count = 0;
  const column = new Float64Array(rows);
  const isClass = new Uint8Array(rows);
  for (let c = 0; c < classCount; c++) {
    for (let r = 0; r < rows; r++) {
      column[r] = scores[r * classCount + c];
      isClass[r] = labels[r] === c ? 1 : 0;
    }
    const a = auroc(column, isClass);
    if (a !== undefined) {
      sum += a;
      count++;
    }
  }
  return count === 0 ? undefined : sum / count;
}

/** Coefficient of determination 1 − SS_res / SS_tot (undefined when the targets are constant). */
export function r2(predicted: ArrayLike<number>, actual: ArrayLike<number>): number | undefined {
  sameLength(predicted, actual, 'R²');
  const n = actual.length;
  if (n === 0) return undefined;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += actual[i];
  mean /= n;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < n; i++) {
    ssRes += (actual[i] - predicted[i]) ** 2;
    ssTot += (actual[i] - mean) ** 2;
  }
  return ssTot === 0 ? undefined : 1 - ssRes / ssTot;
}

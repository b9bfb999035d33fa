/** Comparing two engines' logits row by row (parity benches). */

export interface RowDiff {
  readonly rows: number;
  readonly maxAbs: number;
  readonly rel: number;
  readonly relCentered: number;
  readonly top1Agree: number;
}

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export function rowMax(row: Float32Array): number {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]);
  return m;
}

/** Top-1 minus top-2 logit. */
export function margin(row: Float32Array): number {
  let a = -Infinity;
  let b = -Infinity;
  for (let i = 0; i < row.length; i++) {
    if (row[i] > a) {
      b = a;
      a = row[i];
    } else if (row[i] > b) b = row[i];
  }
  return a - b;
}

export function diffRows(steerer: readonly Float32Array[], llama: readonly Float32Array[]): RowDiff {
  let maxAbs = 0;
  let rel = 0;
  let relCentered = 0;
  let top1Agree = 0;
  for (let r = 0; r < steerer.length; r++) {
    const s = steerer[r];
    const l = llama[r];
    if (s.length !== l.length) throw new Error(`row ${r}: vocab ${s.length} vs ${l.length}`);
    const sm = rowMax(s);
    const lm = rowMax(l);
    let d = 0;
    let scale = 0;
    let dc = 0;
    let scaleC = 0;
    for (let i = 0; i < s.length; i++) {
      d = Math.max(d, Math.abs(s[i] - l[i]));
      scale = Math.max(scale, Math.abs(s[i]));
      dc = Math.max(dc, Math.abs(s[i] - sm - (l[i] - lm)));
      scaleC = Math.max(scaleC, Math.abs(s[i] - sm));
    }
    maxAbs = Math.max(maxAbs, d);
    rel = Math.max(rel, d / scale);
    relCentered = Math.max(relCentered, dc / scaleC);
    if (argmax(s) === argmax(l)) top1Agree++;
  }
  return { rows: steerer.length, maxAbs, rel, relCentered, top1Agree };
}


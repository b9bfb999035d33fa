/** Capability retention: steered against unsteered benchmark scores. */

/**
 * (steered − base) / |base|: the relative change, negative when the score dropped (|base| so the
 * sign also reads right for negative scores such as mean log-probabilities). base 0: 0 when
 * steered is 0 too, else ±Infinity, instead of NaN.
 */
export function relativeChange(base: number, steered: number): number {
  if (base === 0) return steered === 0 ? 0 : steered > 0 ? Infinity : steered < 0 ? -Infinity : NaN;
  return (steered - base) / Math.abs(base);
}

export interface RetentionRow {
  readonly name: string;
  readonly base: number;
  readonly steered: number;
}

export interface RetentionTableRow extends RetentionRow {
  /** relativeChange(base, steered). */
  readonly change: number;
}

export function retentionTable(rows: readonly RetentionRow[]): RetentionTableRow[] {
  return rows.map((r) => ({ name: r.name, base: r.base, steered: r.steered, change: relativeChange(r.base, r.steered) }));
}

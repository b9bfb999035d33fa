/**
 * Numbers as people read them: at most `digits` significant digits, no trailing zeros and no
 * binary-fraction noise (a recommended coefficient of 3.1415926535897931 shows as 3.142).
 * Whole numbers stay whole (a count or a seed is never rounded); non-finite values are a dash.
 */
export function formatNumber(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return '—';
  if (x === 0) return '0'; // also -0
  if (Number.isSafeInteger(x)) return String(x);
  return String(Number(x.toPrecision(digits)));
}

import type { SteeringVector } from '../steering/vector.js';

/** Per-layer diagnostics of a vector as a plain-text table (recommended layers starred). */
export function diagnosticsTable(v: SteeringVector): string {
  const fmt = (x: number | null, digits = 3): string => (x === null ? '-' : x.toFixed(digits));
  const rec = new Set(v.meta.recommended?.layers ?? []);
  const lines = ['layer  accuracy  AUROC   Fisher    |v|/|x|  held-out', ...(v.meta.diagnostics ?? []).map((d) =>
    `${String(d.layer).padStart(5)}${rec.has(d.layer) ? '*' : ' '} ${fmt(d.accuracy).padStart(8)}  ${fmt(d.auroc).padStart(5)}  ${fmt(d.fisher, 2).padStart(8)}  ${fmt(d.relativeNorm).padStart(8)}  ${String(d.heldOut).padStart(8)}`)];
  if (!v.meta.diagnostics?.length) lines.push('  (no diagnostics stored)');
  if (rec.size) lines.push(`* recommended layer${rec.size > 1 ? 's' : ''}${v.meta.recommended?.coefficient !== undefined ? `, coefficient ${Number(v.meta.recommended.coefficient.toPrecision(4))}` : ''}`);
  return `${lines.join('\n')}\n`;
}

import type { SteeringSpec, VectorInfo } from './api';

/** What the person set for one vector in the panel. */
export interface VectorSetting {
  strength: number;
  layer: number;
}

export type SteeringSettings = Record<string, VectorSetting>;

/** The layer a vector starts on: its recommended one when that is among its layers. */
export function defaultLayer(v: VectorInfo): number {
  const rec = v.recommended?.layers?.[0];
  return rec !== undefined && v.layers.includes(rec) ? rec : (v.layers[0] ?? 0);
}

export interface SliderRange {
  min: number;
  max: number;
  step: number;
}

/** About ±2x the recommended coefficient, or ±10 without one; ~100+ steps per side. */
export function sliderRange(v: VectorInfo): SliderRange {
  const rec = v.recommended?.coefficient;
  const max = rec !== undefined && rec !== 0 ? 2 * Math.abs(rec) : 10;
  const step = 10 ** Math.floor(Math.log10(max / 100));
  return { min: -max, max, step };
}

/** Rounds away binary-fraction noise from slider arithmetic (0.30000000000000004). */
export function roundToStep(x: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  return Number(x.toFixed(decimals));
}

/** The spec for the next reply: one intervention per vector with a non-zero strength, or null. */
export function buildSteering(vectors: VectorInfo[], settings: SteeringSettings): SteeringSpec | null {
  const interventions = vectors.flatMap((v) => {
    const s = settings[v.name];
    if (s === undefined || s.strength === 0) return [];
    return [{ vector: v.name, layers: [s.layer], coefficient: s.strength }];
  });
  return interventions.length === 0 ? null : { version: 1, interventions };
}

/** "sad ×4 @ L1, happy ×-2 @ L0" */
export function describeSteering(spec: SteeringSpec | null): string {
  if (spec === null) return 'no steering';
  return spec.interventions
    .map((i) => `${typeof i.vector === 'string' ? i.vector : 'inline'} ×${i.coefficient} @ L${i.layers.join(',')}`)
    .join(', ');
}

/** The concept a steered reply should show: the vectors' concepts (or names), joined. */
export function steeringConcept(vectors: VectorInfo[], spec: SteeringSpec | null): string | undefined {
  if (spec === null) return undefined;
  const names = spec.interventions.map((i) => {
    if (typeof i.vector !== 'string') return 'inline vector';
    const name = i.vector;
    return vectors.find((v) => v.name === name)?.concept ?? name;
  });
  return names.join(', ');
}

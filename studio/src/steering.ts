import type { SteeringSpec, VectorInfo } from './api';
import { formatNumber } from './format';

/**
 * What the person set for one vector in the panel. The slider keeps its strength while the
 * vector is off, so turning it back on needs no re-tuning.
 */
export interface VectorSetting {
  strength: number;
  layer: number;
  /** Whether the vector steers the next reply; anything but true (a setting without it) is off. */
  enabled: boolean;
  /** Conditional steering: a condition vector's name; the vector then steers only prompts where it holds. */
  when?: string;
}

export type SteeringSettings = Record<string, VectorSetting>;

/** The layer a vector starts on: its recommended one when that is among its layers. */
function defaultLayer(v: VectorInfo): number {
  const rec = v.recommended?.layers?.[0];
  return rec !== undefined && v.layers.includes(rec) ? rec : (v.layers[0] ?? 0);
}

export interface SliderRange {
  min: number;
  max: number;
  step: number;
}

/**
 * About ±2x the recommended coefficient, or ±10 without one; ~100+ steps per side. The ends are
 * whole steps, so the range input's grid (counted from min) holds every roundToStep value.
 */
export function sliderRange(v: VectorInfo): SliderRange {
  const rec = v.recommended?.coefficient;
  const span = rec !== undefined && rec !== 0 ? 2 * Math.abs(rec) : 10;
  const step = 10 ** Math.floor(Math.log10(span / 100));
  const max = roundToStep(Math.ceil(span / step - 1e-9) * step, step);
  return { min: -max, max, step };
}

/** Rounds away binary-fraction noise from slider arithmetic (0.30000000000000004). */
export function roundToStep(x: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  return Number(x.toFixed(decimals));
}

/** Where a vector's slider starts: its recommended coefficient on the slider's grid, or 1 without one. */
export function recommendedStrength(v: VectorInfo): number {
  const rec = v.recommended?.coefficient;
  if (rec === undefined || rec === 0 || !Number.isFinite(rec)) return 1;
  const { step } = sliderRange(v);
  return roundToStep(Math.round(rec / step) * step, step);
}

/** A vector the person has not touched: off, its slider at the recommendation, on its recommended layer. */
function defaultSetting(v: VectorInfo): VectorSetting {
  return { strength: recommendedStrength(v), layer: defaultLayer(v), enabled: false };
}

/** The vector's setting, or its default when the person has not touched it. */
export function settingOf(v: VectorInfo, settings: SteeringSettings): VectorSetting {
  return settings[v.name] ?? defaultSetting(v);
}

/** Whether a setting steers the next reply: turned on, with a non-zero strength (zero would do nothing). */
export function isActive(s: VectorSetting | undefined): boolean {
  return s !== undefined && s.enabled === true && s.strength !== 0;
}

/** Whether "Reset all" would change anything: a vector is on, or a slider is off its recommendation. */
export function isDefault(vectors: VectorInfo[], settings: SteeringSettings): boolean {
  return vectors.every((v) => {
    const s = settingOf(v, settings);
    return s.enabled !== true && s.strength === recommendedStrength(v);
  });
}

/** "Reset all": every vector off and its slider back at the recommendation; chosen layers stay. */
export function resetSettings(vectors: VectorInfo[], settings: SteeringSettings): SteeringSettings {
  return Object.fromEntries(
    Object.entries(settings).map(([name, s]) => {
      const v = vectors.find((x) => x.name === name);
      return [name, { ...s, enabled: false, strength: v !== undefined ? recommendedStrength(v) : s.strength }];
    }),
  );
}

/** The spec for the next reply: one intervention per vector that is on (non-zero strength), or null. */
export function buildSteering(vectors: VectorInfo[], settings: SteeringSettings): SteeringSpec | null {
  const interventions = vectors.flatMap((v) => {
    const s = settings[v.name];
    if (s === undefined || !isActive(s)) return [];
    const when = s.when !== undefined && vectors.some((c) => c.name === s.when && c.condition !== undefined) ? { when: { vector: s.when } } : {};
    return [{ vector: v.name, layers: [s.layer], coefficient: s.strength, ...when }];
  });
  return interventions.length === 0 ? null : { version: 1, interventions };
}

/** "sad ×4 @ L1, happy ×-2 @ L0" */
export function describeSteering(spec: SteeringSpec | null): string {
  if (spec === null) return 'no steering';
  return spec.interventions
    .map((i) => `${typeof i.vector === 'string' ? i.vector : 'inline'} ×${formatNumber(i.coefficient)} @ L${i.layers.join(',')}${i.when ? ` when ${i.when.vector}` : ''}`)
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

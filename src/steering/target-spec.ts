import { z } from 'zod/v4';
import type { HookSite } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import type { LinearProbe } from '../probes/probe.js';
import { bestProbeLayer } from '../probes/train-probes.js';
import type { Hook } from '../runtime/hooks.js';
import type { PositionSelector } from '../runtime/positions.js';
import type { ModelShape } from './model-match.js';
import { targetIntervention } from './target-operator.js';
import type { SteeringVector } from './vector.js';

/**
 * The `target` of a vector intervention (in place of `coefficient`): hold a read-out of each
 * selected token's activation at a level, adding only what is missing (./target-operator.ts).
 *
 *   "target": 2.5               the vector's projection at least 2.5 at every selected token
 *   "target": "recommended"     the level the recommended coefficient gives a typical token
 *   "target": { "value": -1, "atMost": true }
 *   "target": { "value": 2, "probe": "sad.probe.safetensors" }   a probe's logit w·x + b at least 2,
 *                               pushing along w/|w|² (no vector: the probe is the direction)
 *
 * Units. A vector's projection is centred, (x − μ)·u with u = v/|v| and μ the vector's stored
 * mean activation of its data at that layer (`vector create` stores it), so 0 is where the
 * vector's own data sits on average and the number reads the same for every vector and layer;
 * raw x·u carries a per-vector, per-layer offset μ·u (on the concept-suite vectors typical text
 * sits at −2.2 |v| raw, sd 2.5 across vectors, against 0.07 |v| centred, sd 0.4: measured by
 * eval/target-units.ts; README "Target-level steering"). A vector
 * without stored means (inline directions) is held on raw x·u, and the report says so.
 * A probe's logit needs no centring: its bias already puts 0 on the decision boundary.
 *
 * "recommended": t = c·|v| at each layer, c the vector's recommended coefficient: exactly where
 * adding c·v puts a token whose projection sits at the data mean (centred 0); tokens below are
 * lifted to it, tokens above left alone. A negative (steering-away) coefficient holds at most.
 */
const level = z.number().min(-1e6).max(1e6);

export const TargetSchema = z.union([
  level,
  z.literal('recommended'),
  z
    .object({
      value: level,
      atMost: z.boolean().default(false).describe('hold at most at value instead of at least'),
      probe: z.string().min(1).max(4096).optional().describe("a probe file (relative to the spec): hold its logit, pushing along the probe's weights"),
    })
    .strict(),
]);

type TargetSpec = z.output<typeof TargetSchema>;

/** A target that reads a probe: the intervention then takes no vector. */
export function targetProbe(t: TargetSpec | undefined): string | undefined {
  return typeof t === 'object' ? t.probe : undefined;
}

/** What is wrong with an intervention's target next to its other fields: [message, field]. */
export function targetProblems(iv: { target?: TargetSpec; coefficient?: unknown; operator: string; preserveNorm: boolean; vector?: unknown }): [string, string][] {
  if (iv.target === undefined) return [];
  const out: [string, string][] = [];
  if (iv.coefficient !== undefined) out.push(['give either coefficient (a fixed strength) or target (a level held at each token), not both', 'target']);
  if (iv.operator !== 'add') out.push([`target works with the add operator (it adds only what is missing), not ${iv.operator}`, 'target']);
  if (iv.preserveNorm) out.push(['target and preserveNorm do not mix: rescaling the row would move it off the target', 'preserveNorm']);
  if (targetProbe(iv.target) !== undefined && iv.vector !== undefined) out.push(["a probe target pushes along the probe's own weights: leave out vector", 'vector']);
  return out;
}

/** What a target resolved to, for reports: one level per layer (in the order of `layers`). */
export interface ResolvedTarget {
  readonly values: readonly number[];
  readonly atMost: boolean;
  readonly from: 'given' | 'recommended';
  /** centred: (x − μ)·u; raw: x·u (no stored means); logit: a probe's w·x + b. */
  readonly units: 'centred' | 'raw' | 'logit';
  readonly probe?: string;
}

interface TargetContext {
  readonly vector?: SteeringVector;
  readonly site: HookSite;
  readonly positions: PositionSelector;
  /** The intervention's `layers` as written, and the spec's resolution of them (needs a vector for "recommended"). */
  readonly layersSpec: unknown;
  readonly layers: () => number[];
  /** The checked direction at a layer (file or inline). */
  readonly direction: (layer: number) => Float32Array;
  readonly loadProbe?: (ref: string) => LinearProbe;
}

export function compileTarget(spec: TargetSpec, ctx: TargetContext, model: ModelShape, where: string): { hooks: Hook[]; layers: number[]; resolved: ResolvedTarget } {
  const probeRef = targetProbe(spec);
  if (probeRef !== undefined) return probeTarget(spec as { value: number; atMost: boolean }, probeRef, ctx, model, where);
  const layers = ctx.layers();
  const v = ctx.vector;
  const centred = v !== undefined && v.meta.site === ctx.site && layers.every((l) => v.means?.get(l)?.length === model.hiddenSize);
  let atMost = typeof spec === 'object' && spec.atMost;
  let levels: (dir: Float32Array) => number;
  if (spec === 'recommended') {
    const c = v?.meta.recommended?.coefficient;
    if (c === undefined) throw new InvalidInputError(`${where}: target "recommended" but the vector records no recommended coefficient (give a number)`);
    if (!centred) throw new InvalidInputError(`${where}: target "recommended" is measured from the vector's stored mean activation at ${ctx.site}, which this vector lacks for layer(s) ${layers.join(',')}: give a number`);
    atMost = c < 0;
    levels = (dir) => c * norm(dir);
  } else {
    const value = typeof spec === 'number' ? spec : spec.value;
    levels = () => value;
  }
  const hooks: Hook[] = [];
  const values: number[] = [];
  for (const layer of layers) {
    const dir = ctx.direction(layer);
    const n = norm(dir);
    if (n === 0) throw new InvalidInputError(`${where}: the direction for layer ${layer} is zero: a target needs a direction to move along`);
    const unit = Float32Array.from(dir, (x) => x / n);
    const offset = centred ? -dotF64(v!.means!.get(layer)!, unit) : 0;
    const target = levels(dir);
    values.push(target);
    hooks.push({ kind: 'intervene', at: { layer, site: ctx.site }, intervention: targetIntervention({ read: unit, offset, target, atMost, positions: ctx.positions }) });
  }
  return { hooks, layers, resolved: { values, atMost, from: spec === 'recommended' ? 'recommended' : 'given', units: centred ? 'centred' : 'raw' } };
}

function probeTarget(spec: { value: number; atMost: boolean }, ref: string, ctx: TargetContext, model: ModelShape, where: string): { hooks: Hook[]; layers: number[]; resolved: ResolvedTarget } {
  if (!ctx.loadProbe) throw new InvalidInputError(`${where}: a probe target needs a probe file, which this caller cannot load`);
  const probe = ctx.loadProbe(ref);
  if (probe.hiddenSize !== model.hiddenSize) throw new InvalidInputError(`${where}: probe ${ref} has hidden size ${probe.hiddenSize} but the model's is ${model.hiddenSize}`);
  if (probe.site !== ctx.site) throw new InvalidInputError(`${where}: probe ${ref} reads ${probe.site}, not ${ctx.site}: give "site": "${probe.site}"`);
  const outputs = probe.layers.values().next().value?.bias.length ?? 0;
  if (outputs !== 1) throw new InvalidInputError(`${where}: probe ${ref} has ${outputs} outputs (one-vs-rest); a target needs a binary or regression probe`);
  let layers: number[];
  if (ctx.layersSpec === 'recommended') {
    const have = [...probe.layers.keys()];
    const best = have.length === 1 ? have[0] : bestProbeLayer(have.flatMap((layer) => (probe.metrics?.has(layer) ? [{ layer, metrics: probe.metrics.get(layer)! }] : [])));
    if (best === undefined) throw new InvalidInputError(`${where}: probe ${ref} has layers ${have.join(', ')} and no metrics to choose one: give "layers"`);
    if (best >= model.numLayers) throw new InvalidInputError(`${where}: probe ${ref} reads layer ${best}, which the model does not have (layers 0..${model.numLayers - 1})`);
    layers = [best];
  } else {
    layers = ctx.layers();
  }
  const hooks = layers.map((layer): Hook => {
    const w = probe.layers.get(layer);
    if (!w) throw new InvalidInputError(`${where}: probe ${ref} has no layer ${layer} (it has ${[...probe.layers.keys()].join(', ')})`);
    return { kind: 'intervene', at: { layer, site: ctx.site }, intervention: targetIntervention({ read: w.weight, offset: w.bias[0], target: spec.value, atMost: spec.atMost, positions: ctx.positions }) };
  });
  return { hooks, layers, resolved: { values: layers.map(() => spec.value), atMost: spec.atMost, from: 'given', units: 'logit', probe: ref } };
}

function dotF64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

const norm = (a: ArrayLike<number>): number => Math.sqrt(dotF64(a, a));

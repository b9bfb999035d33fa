import { z } from 'zod/v4';
import { InvalidInputError } from '../io/errors.js';
import { HOOK_SITES } from '../graph/hook-points.js';
import type { Hook } from '../runtime/hooks.js';
import type { PositionSelector } from '../runtime/positions.js';
import { OPERATORS, steeringIntervention } from './operators.js';
import { isReplaceOperator, REPLACE_OPERATORS, replaceOperatorIntervention } from './replace-operators.js';
import type { SteeringVector } from './vector.js';
import { checkSaeFitsModel, type Sae } from '../sae/sae.js';
import { featureClampIntervention } from '../sae/sae-interventions.js';
import { featureAddIntervention } from './sae-feature-add.js';
import { DecodingSchema, type DecodingResolver } from '../decoding/decoding-spec.js';
import { nonNegativeInt as int } from '../util/schemas.js';
import { modelMismatch, ModelMismatchError, type ModelShape } from './model-match.js';
import { compileTarget, TargetSchema, targetProbe, targetProblems, type ResolvedTarget } from './target-spec.js';
import { compileCondition, WhenSchema, type ResolvedCondition } from './condition.js';
import { ChooseSchema } from './choose-spec.js';

/**
 * The steering spec: one validated JSON shape for "which vectors, where, how strongly",
 * shared by the library, the CLI (--steer / --steer-spec), saved presets and the server.
 *
 * {
 *   "version": 1,
 *   "interventions": [
 *     { "vector": "sad.safetensors", "layers": "recommended", "site": "resid_post",
 *       "operator": "add", "coefficient": 4, "positions": "all", "preserveNorm": false },
 *     (layers and coefficient left out: the vector's recommended ones; no recorded
 *      coefficient: 1, i.e. the vector as extracted)
 *     { "sae": "layer0.sae.safetensors", "features": [812], "operator": "clamp", "coefficient": 6 },
 *     { "operator": "zero", "layers": [1], "site": "mlp_out", "positions": { "indices": [3] } },
 *     { "operator": "resample", "source": "another text", "layers": [0, 1] },
 *     { "vector": "happy.safetensors", "coefficient": 4, "when": { "vector": "sad-prompt.safetensors" } }
 *     (conditional steering: applies only to sequences whose prompt the condition reads as
 *      holding; ./condition.ts)
 *   ]
 * }
 *
 * The ablation operators replace the activation outright (./replace-operators.ts): `zero`,
 * `mean` (the vector's stored mean activation at each layer, or the inline values as the mean)
 * and `resample` (the activation of the `source` text at the same position). They take no
 * coefficient; zero and resample take no vector and need explicit layers.
 *
 * A feature intervention acts at its SAE's own hook point: `add` adds coefficient × the
 * features' decoder directions, `clamp` sets the features' activations to coefficient (the
 * SAE's reconstruction error is kept), `ablate` clamps them to 0.
 *
 * Interventions apply in the forward pass's order; several at the same hook point apply
 * in the order listed. The optional `decoding` section (src/decoding/decoding-spec.ts)
 * adds decode-time steering on top.
 * The optional `choose` section (./choose-spec.ts) lets the model,
 * or a probe policy, pick which vector to apply.
 */

/**
 * Every number and list in a spec is bounded here, before anything is sized from it; the
 * bounds are far above any real model (compileSteeringSpec then checks against the model).
 */
export const SPEC_LIMITS = {
  /** Layer indices are below this. */
  layers: 4096,
  /** Token positions are below this. */
  positions: 1 << 24,
  /** Entries of one inline direction (the hidden size) at most. */
  hiddenSize: 1 << 16,
  /** |coefficient| at most. */
  coefficient: 1e6,
  /** Norm of one direction, before the coefficient, at most. */
  directionNorm: 1e6,
  /** SAE feature indices are below this. */
  features: 1 << 24,
  /** Characters of a resample source text at most. */
  sourceChars: 1 << 16,
} as const;

const position = int.max(SPEC_LIMITS.positions - 1);
const layer = int.max(SPEC_LIMITS.layers - 1);
const direction = z.array(z.number()).min(1).max(SPEC_LIMITS.hiddenSize);

const PositionsSchema = z.union([
  z.enum(['all', 'prompt', 'generated']),
  z.object({ last: position }).strict(),
  z.object({ indices: z.array(position).min(1).max(65536) }).strict(),
  z.object({ from: position, to: position.optional() }).strict(),
]);

const LayersSchema = z.union([
  z.literal('all'),
  z.literal('recommended'),
  layer,
  z.array(layer).min(1).max(SPEC_LIMITS.layers),
  z.object({ from: layer, to: layer }).strict().describe('inclusive range'),
]);

const VectorRefSchema = z.union([
  z.string().min(1).max(4096).describe('a vector file path (relative to the spec) or a registry name'),
  z.object({ file: z.string().min(1).max(4096) }).strict(),
  z.object({ inline: direction }).strict().describe('one direction used at every listed layer'),
  z
    .object({
      inlineLayers: z
        .record(z.string().regex(/^\d{1,4}$/), direction)
        .refine((r) => Object.keys(r).length <= SPEC_LIMITS.layers, `at most ${SPEC_LIMITS.layers} layers`),
    })
    .strict()
    .describe('a direction per layer'),
]);

const coefficient = z.number().min(-SPEC_LIMITS.coefficient).max(SPEC_LIMITS.coefficient);

const InterventionSchema = z
  .object({
    vector: VectorRefSchema.optional().describe('required except for the zero and resample operators'),
    layers: LayersSchema.default('recommended'),
    site: z.enum(HOOK_SITES).default('resid_post'),
    operator: z.enum([...OPERATORS, ...REPLACE_OPERATORS]).default('add'),
    coefficient: z
      .union([coefficient, z.literal('recommended')])
      .optional()
      .describe("omitted: the vector's recommended coefficient when it records one, else 1"),
    target: TargetSchema.optional().describe('in place of coefficient: hold the projection (or a probe\'s logit) at this level, adding only what is missing (src/steering/target-spec.ts)'),
    positions: PositionsSchema.default('all'),
    preserveNorm: z.boolean().default(false),
    source: z.string().min(1).max(SPEC_LIMITS.sourceChars).optional().describe('resample only: the text whose activations are put in place'),
    when: WhenSchema.optional().describe('conditional steering: apply only to sequences where this condition holds (./condition.ts)'),
  })
  .strict()
  .superRefine((iv, ctx) => {
    const problem = (message: string, path: string): void => void ctx.addIssue({ code: 'custom', message, path: [path] });
    const replace = isReplaceOperator(iv.operator);
    const needsVector = iv.operator !== 'zero' && iv.operator !== 'resample' && targetProbe(iv.target) === undefined;
    if (needsVector && iv.vector === undefined) problem(`operator ${iv.operator} needs a vector`, 'vector');
    if (!needsVector && iv.target === undefined && iv.vector !== undefined) problem(`operator ${iv.operator} takes no vector`, 'vector');
    if (iv.operator === 'resample' && iv.source === undefined) problem('operator resample needs a source text', 'source');
    if (iv.operator !== 'resample' && iv.source !== undefined) problem('only the resample operator takes a source text', 'source');
    if (replace && iv.coefficient !== undefined) problem(`operator ${iv.operator} replaces the activation and takes no coefficient`, 'coefficient');
    if (replace && iv.preserveNorm) problem(`operator ${iv.operator} replaces the activation: preserveNorm does not apply`, 'preserveNorm');
    for (const [message, path] of targetProblems(iv)) problem(message, path);
  });

const FEATURE_OPERATORS = ['add', 'clamp', 'ablate'] as const;

const FeatureInterventionSchema = z
  .object({
    sae: z.string().min(1).max(4096).describe('an SAE: a Steerer .safetensors file or a SAELens / sparsify folder (relative to the spec)'),
    features: z.union([int.max(SPEC_LIMITS.features - 1), z.array(int.max(SPEC_LIMITS.features - 1)).min(1).max(4096)]),
    operator: z.enum(FEATURE_OPERATORS).default('add'),
    coefficient: coefficient.default(1).describe('add: multiple of the decoder directions; clamp: the activation value; ablate: unused'),
    positions: PositionsSchema.default('all'),
    when: WhenSchema.optional().describe('conditional steering: apply only to sequences where this condition holds (./condition.ts)'),
  })
  .strict();

const SteeringSpecSchema = z
  .object({
    version: z.literal(1).default(1),
    interventions: z.array(z.union([InterventionSchema, FeatureInterventionSchema])).max(256).default([]),
    decoding: DecodingSchema.optional().describe('decode-time steering: logits processors, contrastive decoding, CFG, proxy-tuning, probe reranking, best-of-N'),
    force: z.boolean().optional().describe('apply vectors recorded as made on another model (same hidden size) instead of refusing them; each is reported with a warning'),
    choose: ChooseSchema.optional().describe('the model picks its vectors: offered as a tool (chat models) or picked per turn by probes (./choose-spec.ts)'),
  })
  .strict();

export type SteeringSpec = z.output<typeof SteeringSpecSchema>;
export type SteeringSpecInput = z.input<typeof SteeringSpecSchema>;
export type InterventionSpec = z.output<typeof InterventionSchema>;
export type FeatureInterventionSpec = z.output<typeof FeatureInterventionSchema>;
type VectorRef = z.output<typeof VectorRefSchema>;

/** Validates a spec; errors name the JSON path of every problem. */
export function parseSteeringSpec(value: unknown, source = 'steering spec'): SteeringSpec {
  const r = SteeringSpecSchema.safeParse(value);
  if (!r.success) {
    const problems = r.error.issues.flatMap((i) => explainIssue(i, value));
    throw new InvalidInputError(`${source} is invalid: ${problems.join('; ')}`);
  }
  return r.data;
}

/**
 * An intervention that fits neither shape fails as a union; report it against the shape it
 * meant (a "sae" key means a feature intervention), with that shape's own messages.
 */
function explainIssue(issue: z.core.$ZodIssue, root: unknown): string[] {
  const at = (path: readonly PropertyKey[]): string => (path.length ? path.join('.') : '(root)');
  if (issue.code === 'invalid_union' && issue.path.length === 2 && issue.path[0] === 'interventions') {
    const item = (root as { interventions: unknown[] }).interventions[issue.path[1] as number];
    const schema = item !== null && typeof item === 'object' && 'sae' in item ? FeatureInterventionSchema : InterventionSchema;
    const again = schema.safeParse(item);
    if (!again.success) return again.error.issues.map((i) => `${at([...issue.path, ...i.path])}: ${i.message}`);
  }
  return [`${at(issue.path)}: ${issue.message}`];
}

/** JSON Schema of the spec, for editors, the server's docs and other languages. */
export function steeringSpecJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(SteeringSpecSchema, { io: 'input' }) as Record<string, unknown>;
}

/** Turns a spec's file references into vectors and SAEs (and, for `decoding`, models and probes). */
export interface SpecResolver extends DecodingResolver {
  vector(ref: string): SteeringVector;
  sae(ref: string): Sae;
}

interface ResolvedCommon {
  readonly index: number;
  readonly layers: readonly number[];
  readonly coefficient: number;
  /** Where the coefficient came from. */
  readonly coefficientFrom: 'given' | 'recommended' | 'default';
  readonly operator: string;
  /** Why this may not do what it should: a vector made on another model, applied because the spec forced it. */
  readonly warning?: string;
  /** Conditional steering: the condition it applies under. */
  readonly when?: ResolvedCondition;
}

interface ResolvedVectorIntervention extends ResolvedCommon {
  readonly kind: 'vector';
  /** The reference as written (a path or registry name), "inline", or "none" (zero and resample ablation). */
  readonly vector: string;
  /** Resample ablation: the text whose activations are put in place. */
  readonly source?: string;
  /** Target-level steering: the levels held (coefficient is then 0). */
  readonly target?: ResolvedTarget;
}

interface ResolvedFeatureIntervention extends ResolvedCommon {
  readonly kind: 'features';
  readonly sae: string;
  readonly features: readonly number[];
}

/** What one intervention resolved to (layers, coefficient): shown to users so they know what was applied. */
export type ResolvedIntervention = ResolvedVectorIntervention | ResolvedFeatureIntervention;

/**
 * Resolves a spec into hooks for HookedModel.forward / generate. `resolve` turns file and
 * registry references into vectors and SAEs (inline vectors need none); `report` hears what
 * each vector intervention resolved to (layers, coefficient and where it came from).
 */
export function compileSteeringSpec(spec: SteeringSpec, model: ModelShape, resolve: SpecResolver, report?: (r: ResolvedIntervention) => void): Hook[] {
  const hooks: Hook[] = [];
  const add = (iv: InterventionSpec | FeatureInterventionSpec, k: number, report?: (r: ResolvedIntervention) => void): void => {
    const where = `interventions.${k}`;
    if ('sae' in iv) {
      const { hook, layer } = featureHook(iv, model, resolve, where);
      hooks.push(hook);
      const features = typeof iv.features === 'number' ? [iv.features] : iv.features;
      report?.({ kind: 'features', index: k, sae: iv.sae, features, layers: [layer], coefficient: iv.operator === 'ablate' ? 0 : iv.coefficient, coefficientFrom: 'given', operator: iv.operator });
      return;
    }
    const ref = iv.vector === undefined ? 'none' : typeof iv.vector === 'string' ? iv.vector : 'file' in iv.vector ? iv.vector.file : 'inline';
    const vector = iv.vector === undefined ? undefined : typeof iv.vector === 'string' ? resolve.vector(iv.vector) : 'file' in iv.vector ? resolve.vector(iv.vector.file) : undefined;
    if (vector && vector.meta.model.hiddenSize !== model.hiddenSize) {
      throw new InvalidInputError(`${where}: vector has hidden size ${vector.meta.model.hiddenSize} but the model's is ${model.hiddenSize}`);
    }
    const mismatch = vector ? modelMismatch(ref, vector.meta.model, model) : undefined;
    if (mismatch && !spec.force) throw new ModelMismatchError(where, mismatch);
    if (iv.target !== undefined) {
      const t = compileTarget(iv.target, { vector, site: iv.site, positions: iv.positions as PositionSelector, layersSpec: iv.layers, layers: () => resolveLayers(iv, vector, model.numLayers, where), direction: (l) => directionAt(iv.vector!, vector, l, model.hiddenSize, where), loadProbe: resolve.probe?.bind(resolve) }, model, where);
      hooks.push(...t.hooks);
      return report?.({ kind: 'vector', index: k, vector: ref, layers: t.layers, coefficient: 0, coefficientFrom: 'given', operator: iv.operator, target: t.resolved, ...(mismatch ? { warning: mismatch } : {}) });
    }
    const layers = resolveLayers(iv, vector, model.numLayers, where);
    if (isReplaceOperator(iv.operator)) {
      hooks.push(...replaceHooks(iv, vector, layers, model.hiddenSize, where));
      report?.({ kind: 'vector', index: k, vector: ref, layers, coefficient: 0, coefficientFrom: 'given', operator: iv.operator, ...(iv.source === undefined ? {} : { source: iv.source }), ...(mismatch ? { warning: mismatch } : {}) });
      return;
    }
    const recommended = vector?.meta.recommended?.coefficient;
    let coefficient: number;
    let coefficientFrom: ResolvedIntervention['coefficientFrom'];
    if (iv.coefficient === 'recommended') {
      if (recommended === undefined) throw new InvalidInputError(`${where}: coefficient "recommended" but the vector records none`);
      [coefficient, coefficientFrom] = [recommended, 'recommended'];
    } else if (iv.coefficient === undefined) {
      [coefficient, coefficientFrom] = recommended === undefined ? [1, 'default'] : [recommended, 'recommended'];
    } else {
      [coefficient, coefficientFrom] = [iv.coefficient, 'given'];
    }
    report?.({ kind: 'vector', index: k, vector: ref, layers, coefficient, coefficientFrom, operator: iv.operator, ...(mismatch ? { warning: mismatch } : {}) });
    for (const layer of layers) {
      const direction = directionAt(iv.vector!, vector, layer, model.hiddenSize, where);
      hooks.push({
        kind: 'intervene',
        at: { layer, site: iv.site },
        intervention: steeringIntervention({
          operator: iv.operator,
          vector: direction,
          coefficient,
          positions: iv.positions as PositionSelector,
          preserveNorm: iv.preserveNorm,
          mean: vector?.means?.get(layer),
        }),
      });
    }
  };
  spec.interventions.forEach((iv, k) => {
    if (!iv.when) return add(iv, k, report);
    // The intervention's hooks apply only where its condition holds; the reader goes first.
    const condition = compileCondition(iv.when, `c${k}`, model, resolve, `interventions.${k}.when`);
    const start = hooks.length;
    add(iv, k, report && ((r) => report({ ...r, when: condition.resolved })));
    hooks.splice(start, hooks.length - start, condition.reader, ...condition.gate(hooks.slice(start)));
  });
  return hooks;
}

/** Hooks of a whole-activation ablation (zero, mean, resample) at each layer. */
function replaceHooks(iv: InterventionSpec, vector: SteeringVector | undefined, layers: readonly number[], hidden: number, where: string): Hook[] {
  if (iv.operator === 'mean' && vector && vector.meta.site !== iv.site) {
    throw new InvalidInputError(`${where}: the vector's means were taken at ${vector.meta.site}, not at ${iv.site}: give "site": "${vector.meta.site}"`);
  }
  return layers.map((layer): Hook => {
    let mean: Float32Array | undefined;
    if (iv.operator === 'mean') {
      mean = vector ? vector.means?.get(layer) : directionAt(iv.vector!, undefined, layer, hidden, where);
      if (!mean) throw new InvalidInputError(`${where}: the vector file stores no mean activation for layer ${layer} (vector create stores them); give the mean inline instead`);
      checkDirectionValues(mean, `${where}: mean activation for layer ${layer}`);
    }
    const point = { layer, site: iv.site };
    const intervention = replaceOperatorIntervention({
      operator: iv.operator as 'zero' | 'mean' | 'resample',
      dim: hidden,
      positions: iv.positions as PositionSelector,
      mean,
      source: iv.source === undefined ? undefined : { text: iv.source, point },
    });
    return { kind: 'intervene', at: point, intervention };
  });
}

function featureHook(iv: FeatureInterventionSpec, model: ModelShape, resolve: SpecResolver, where: string): { hook: Hook; layer: number } {
  const sae = resolve.sae(iv.sae);
  try {
    checkSaeFitsModel(sae, model);
  } catch (e) {
    throw new InvalidInputError(`${where}: ${(e as Error).message}`);
  }
  const features = typeof iv.features === 'number' ? [iv.features] : iv.features;
  const positions = iv.positions as PositionSelector;
  const intervention =
    iv.operator === 'add'
      ? featureAddIntervention(sae, features, iv.coefficient, positions)
      : featureClampIntervention(sae, features.map((feature) => ({ feature, value: iv.operator === 'ablate' ? 0 : iv.coefficient })), positions);
  return { hook: { kind: 'intervene', at: sae.cfg.hook, intervention }, layer: sae.cfg.hook.layer };
}

function resolveLayers(iv: InterventionSpec, vector: SteeringVector | undefined, numLayers: number, where: string): number[] {
  const available = vector ? [...vector.directions.keys()] : iv.vector !== undefined && typeof iv.vector === 'object' && 'inlineLayers' in iv.vector ? Object.keys((iv.vector as { inlineLayers: object }).inlineLayers).map(Number) : undefined;
  let layers: number[];
  const L = iv.layers;
  if (L === 'all') layers = available ?? Array.from({ length: numLayers }, (_, l) => l);
  else if (L === 'recommended') {
    if (iv.vector === undefined) throw new InvalidInputError(`${where}: operator ${iv.operator} has no vector to recommend layers: give "layers"`);
    const rec = vector?.meta.recommended?.layers;
    if (!rec || rec.length === 0) throw new InvalidInputError(`${where}: layers "recommended" but the vector records no recommended layers; give layers explicitly`);
    layers = [...rec];
  } else if (typeof L === 'number') layers = [L];
  else if (Array.isArray(L)) layers = [...L];
  else {
    if (L.to < L.from) throw new InvalidInputError(`${where}.layers: "to" (${L.to}) is below "from" (${L.from})`);
    // Checked before the range is spelled out, so no range can size an allocation.
    if (L.to >= numLayers) throw new InvalidInputError(`${where}: layer ${L.to} does not exist: the model has layers 0..${numLayers - 1}`);
    layers = Array.from({ length: L.to - L.from + 1 }, (_, i) => L.from + i);
  }
  for (const l of layers) {
    if (l >= numLayers) throw new InvalidInputError(`${where}: layer ${l} does not exist: the model has layers 0..${numLayers - 1}`);
  }
  return [...new Set(layers)].sort((a, b) => a - b);
}

function directionAt(ref: VectorRef, vector: SteeringVector | undefined, layer: number, hidden: number, where: string): Float32Array {
  let d: Float32Array | undefined;
  if (vector) d = vector.directions.get(layer);
  else if (typeof ref === 'object' && 'inline' in ref) d = Float32Array.from(ref.inline);
  else if (typeof ref === 'object' && 'inlineLayers' in ref) d = ref.inlineLayers[String(layer)] ? Float32Array.from(ref.inlineLayers[String(layer)]) : undefined;
  if (!d) throw new InvalidInputError(`${where}: the vector has no direction for layer ${layer}`);
  if (d.length !== hidden) throw new InvalidInputError(`${where}: direction for layer ${layer} has size ${d.length} but the model's hidden size is ${hidden}`);
  checkDirectionValues(d, `${where}: direction for layer ${layer}`);
  return d;
}

/**
 * A direction must be finite and of a sane norm: one entry of 3e38 is a valid float32 but
 * turns every logit into NaN once added. Throws InvalidInputError naming `what`.
 */
export function checkDirectionValues(d: Float32Array, what: string): void {
  let sq = 0;
  for (let i = 0; i < d.length; i++) {
    const x = d[i];
    if (!Number.isFinite(x)) throw new InvalidInputError(`${what} has a non-finite value (${x}) at index ${i}`);
    sq += x * x;
  }
  const norm = Math.sqrt(sq);
  if (!(norm <= SPEC_LIMITS.directionNorm)) throw new InvalidInputError(`${what} has norm ${norm.toExponential(3)}, above the limit of ${SPEC_LIMITS.directionNorm.toExponential(0)}`);
}

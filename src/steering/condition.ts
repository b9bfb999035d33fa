import { z } from 'zod/v4';
import { InvalidInputError } from '../io/errors.js';
import { HOOK_SITES, type HookSite } from '../graph/hook-points.js';
import type { Hook } from '../runtime/hooks.js';
import { conditionReader, gatedIntervention } from '../runtime/condition-gate.js';
import type { LinearProbe } from '../probes/probe.js';
import { nonNegativeInt as int } from '../util/schemas.js';
import type { ModelShape } from './model-match.js';
import type { ConditionMeta, SteeringVector } from './vector.js';

/**
 * The `when` of a spec intervention: conditional steering (Lee et al., 2024). The intervention
 * applies to a sequence only when a condition read from its own activations holds:
 *
 *   "when": { "vector": "harmful.safetensors" }             a fitted condition (vector condition fit):
 *                                                            layer, read-out and threshold from its file
 *   "when": { "vector": "sad.safetensors", "layer": 1, "threshold": 0.12 }
 *   "when": { "vector": { "inline": [..] }, "layer": 1, "measure": "projection", "threshold": 3, "compare": "below" }
 *   "when": { "probe": "topic.probe.json", "layer": 1 }      a probe's logit above 0 (p > 0.5)
 *
 * read: "prompt" (default) decides once per sequence from the prompt (its last token, or the
 * mean over its tokens: `reduce`) and holds the decision for every generated token; "token"
 * decides at every token from that token's own activation; "running" at every token from the
 * mean score over the sequence so far, prompt and generated (for both, gated interventions must
 * come after the read point). measure: "cosine" (default for directions: cos(x, v)) or "projection"
 * (x·v/|v|); a probe always reads its logit w·x + b.
 */

const direction = z.array(z.number()).min(1).max(1 << 16);

export const WhenSchema = z
  .object({
    vector: z
      .union([z.string().min(1).max(4096), z.object({ file: z.string().min(1).max(4096) }).strict(), z.object({ inline: direction }).strict()])
      .optional()
      .describe('the condition direction: a vector file or registry name (a fitted condition carries its own settings), or inline'),
    probe: z.string().min(1).max(4096).optional().describe('a binary probe file: holds when its logit compares with the threshold (default 0)'),
    layer: int.max(4095).optional(),
    site: z.enum(HOOK_SITES).optional(),
    read: z.enum(['prompt', 'token', 'running']).optional(),
    reduce: z.enum(['last', 'mean']).optional().describe('prompt reads: the last prompt token or the mean over the prompt'),
    measure: z.enum(['cosine', 'projection']).optional(),
    threshold: z.number().min(-1e6).max(1e6).optional(),
    compare: z.enum(['above', 'below']).optional(),
  })
  .strict()
  .superRefine((w, ctx) => {
    if ((w.vector === undefined) === (w.probe === undefined)) ctx.addIssue({ code: 'custom', message: 'give exactly one of "vector" and "probe"', path: [] });
    if (w.probe !== undefined && w.measure !== undefined) ctx.addIssue({ code: 'custom', message: "a probe condition reads the probe's logit: measure does not apply", path: ['measure'] });
  });

export type WhenSpec = z.output<typeof WhenSchema>;

/** What a `when` resolved to, reported with its intervention. */
export interface ResolvedCondition {
  readonly id: string;
  readonly source: string;
  readonly layer: number;
  readonly site: HookSite;
  readonly read: 'prompt' | 'token' | 'running';
  readonly reduce: 'last' | 'mean';
  readonly measure: 'cosine' | 'projection' | 'probe logit';
  readonly threshold: number;
  readonly compare: 'above' | 'below';
}

interface ConditionResolver {
  vector(ref: string): SteeringVector;
  probe?(ref: string): LinearProbe;
}

interface CompiledCondition {
  readonly reader: Hook;
  readonly resolved: ResolvedCondition;
  /** Hooks of the intervention this `when` belongs to, applied only where it holds. */
  gate(hooks: readonly Hook[]): Hook[];
}

/** Compiles a `when` into its reader hook and the gating of its intervention's hooks. */
export function compileCondition(when: WhenSpec, id: string, model: ModelShape, resolve: ConditionResolver, where: string): CompiledCondition {
  const r = when.probe !== undefined ? probeReadout(when, resolve, model, where) : vectorReadout(when, resolve, model, where);
  if (r.weight.length !== model.hiddenSize) throw new InvalidInputError(`${where}: the condition has size ${r.weight.length} but the model's hidden size is ${model.hiddenSize}`);
  if (r.layer >= model.numLayers) throw new InvalidInputError(`${where}: layer ${r.layer} does not exist: the model has layers 0..${model.numLayers - 1}`);
  const read = when.read ?? r.defaults?.read ?? 'prompt';
  const resolved: ResolvedCondition = {
    id,
    source: r.source,
    layer: r.layer,
    site: when.site ?? r.site,
    read,
    reduce: when.reduce ?? r.defaults?.reduce ?? 'mean',
    measure: r.measure,
    threshold: when.threshold ?? r.defaults?.threshold ?? (r.measure === 'probe logit' ? 0 : fail(`${where}: give a threshold (the condition direction records none: fit one with \`steerer vector condition fit\`)`)),
    compare: when.compare ?? r.defaults?.compare ?? 'above',
  };
  const reader = conditionReader({
    id,
    read,
    reduce: resolved.reduce,
    weight: r.weight,
    bias: r.bias,
    measure: r.measure === 'cosine' ? 'cosine' : 'linear',
    threshold: resolved.threshold,
    compare: resolved.compare,
  });
  return {
    reader: { kind: 'intervene', at: { layer: resolved.layer, site: resolved.site }, intervention: reader },
    resolved,
    gate: (hooks) =>
      hooks.map((h): Hook => {
        if (h.kind !== 'intervene') throw new Error('only compiled interventions can be gated');
        return { ...h, intervention: gatedIntervention(h.intervention, id, read) };
      }),
  };
}

const fail = (message: string): never => {
  throw new InvalidInputError(message);
};

interface Readout {
  readonly source: string;
  readonly layer: number;
  readonly site: HookSite;
  readonly weight: Float32Array;
  readonly bias: number;
  readonly measure: ResolvedCondition['measure'];
  /** What a fitted condition file says, used where the spec is silent. */
  readonly defaults?: Partial<Pick<ConditionMeta, 'read' | 'reduce' | 'threshold' | 'compare'>>;
}

function vectorReadout(when: WhenSpec, resolve: ConditionResolver, model: ModelShape, where: string): Readout {
  const ref = when.vector!;
  let raw: Float32Array | undefined;
  let source = 'inline';
  let site: HookSite = 'resid_post';
  let fitted: ConditionMeta | undefined;
  let layer = when.layer;
  if (typeof ref === 'object' && 'inline' in ref) {
    raw = Float32Array.from(ref.inline);
    if (layer === undefined) fail(`${where}: an inline condition direction needs a layer`);
  } else {
    source = typeof ref === 'string' ? ref : ref.file;
    const v = resolve.vector(source);
    if (v.meta.model.hiddenSize !== model.hiddenSize) fail(`${where}: vector ${source} has hidden size ${v.meta.model.hiddenSize} but the model's is ${model.hiddenSize}`);
    fitted = v.meta.condition;
    site = v.meta.site;
    const layers = [...v.directions.keys()];
    layer ??= fitted?.layer ?? (layers.length === 1 ? layers[0] : fail(`${where}: vector ${source} has directions at layers ${layers.join(', ')}: give the condition's layer`));
    raw = v.directions.get(layer!);
    if (!raw) fail(`${where}: vector ${source} has no direction at layer ${layer} (it has ${layers.join(', ')})`);
  }
  const measure = when.measure ?? fitted?.measure ?? 'cosine';
  // A fitted threshold belongs to its own read-out: reading it differently needs a new threshold.
  if (fitted && when.threshold === undefined) {
    const changed = (['measure', 'reduce', 'read'] as const).filter((k) => when[k] !== undefined && when[k] !== fitted![k]);
    if ((when.layer !== undefined && when.layer !== fitted.layer) || changed.length > 0) {
      fail(`${where}: the fitted threshold of ${source} is for layer ${fitted.layer}, ${fitted.read} ${fitted.reduce}, ${fitted.measure}: give a threshold for the read-out you changed`);
    }
  }
  let norm = 0;
  for (const x of raw!) {
    if (!Number.isFinite(x)) fail(`${where}: the condition direction has a non-finite value`);
    norm += x * x;
  }
  norm = Math.sqrt(norm);
  if (!(norm > 0)) fail(`${where}: the condition direction is zero`);
  return {
    source,
    layer: layer!,
    site,
    weight: raw!.map((x) => x / norm),
    bias: 0,
    measure,
    ...(fitted ? { defaults: { read: fitted.read, reduce: fitted.reduce, threshold: fitted.threshold, compare: fitted.compare } } : {}),
  };
}

function probeReadout(when: WhenSpec, resolve: ConditionResolver, model: ModelShape, where: string): Readout {
  if (!resolve.probe) fail(`${where}: probe conditions are not available here (give the condition as a vector)`);
  const probe = resolve.probe!(when.probe!);
  if (probe.hiddenSize !== model.hiddenSize) fail(`${where}: probe ${when.probe} has hidden size ${probe.hiddenSize} but the model's is ${model.hiddenSize}`);
  const layers = [...probe.layers.keys()];
  const layer = when.layer ?? (layers.length === 1 ? layers[0] : fail(`${where}: probe ${when.probe} has layers ${layers.join(', ')}: give the condition's layer`));
  const w = probe.layers.get(layer);
  if (!w) fail(`${where}: probe ${when.probe} has no weights at layer ${layer} (it has ${layers.join(', ')})`);
  if (w!.bias.length !== 1) fail(`${where}: probe ${when.probe} has ${w!.bias.length} outputs; a condition needs a binary or regression probe`);
  return {
    source: when.probe!,
    layer,
    site: probe.site,
    weight: w!.weight,
    bias: w!.bias[0],
    measure: 'probe logit',
    defaults: { reduce: probe.positions === 'mean' ? 'mean' : 'last' },
  };
}

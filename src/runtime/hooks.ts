import { InvalidInputError } from '../io/errors.js';
import { checkPoint, parseHookName, pointIndex, type HookPoint } from '../graph/hook-points.js';
import type { GraphIntervention } from '../graph/segment.js';

/** An activation as a hook sees it: [batch, seq, dim] row-major, with each row's absolute position (-1 = padding). */
export interface Activation {
  readonly data: Float32Array;
  readonly batch: number;
  readonly seq: number;
  readonly dim: number;
  readonly positions: Int32Array;
}

/** What a compiled intervention needs to know about the current forward step. */
export interface StepInfo {
  readonly batch: number;
  readonly seq: number;
  /** Absolute position of each [batch*seq] row, -1 for padding. */
  readonly positions: Int32Array;
  readonly promptLengths: readonly number[];
}

export interface ParamValue {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** What the model offers an intervention before a forward uses it (see Intervention.prepare). */
export interface PrepareContext {
  encode(text: string): number[];
  /** The activation at `point` for one token sequence, run without hooks: [tokens, hidden]. */
  capture(tokens: readonly number[], point: HookPoint): Promise<Float32Array>;
}

/**
 * An intervention compiled into the graph: its ops are emitted once per hook plan and its
 * parameters (vectors, masks) are fed each step. Steering operators implement this.
 */
export interface Intervention extends GraphIntervention {
  /** Hidden size the intervention was built for (checked against the model). */
  readonly dim: number;
  /**
   * Awaited by every forward before `params`: for values that need a run of the model itself
   * (resample ablation captures another text's activations). The context is the same object
   * for every forward of one model, so an intervention can compute once per model.
   */
  prepare?(ctx: PrepareContext): Promise<void>;
  params(step: StepInfo): Record<string, ParamValue>;
  /** Conditional steering (./condition-gate.ts): this reads a condition, or applies only where one holds. */
  readonly condition?: ConditionRole;
}

/** An intervention's part in conditional steering. */
export type ConditionRole =
  /** Reads condition `id` at its point and publishes the gate (the activation passes unchanged). */
  | { readonly role: 'reader'; readonly id: string; readonly read: ConditionRead }
  /** Applies only to rows where condition `id` holds. */
  | { readonly role: 'gated'; readonly id: string; readonly read: ConditionRead };

/**
 * When a condition is read: once per sequence on the prompt (the first forward on a cache; the
 * gate is then held for every later token), at every token on its own activation, or at every
 * token on the running mean of the score over the sequence so far (prompt and generated).
 */
export type ConditionRead = 'prompt' | 'token' | 'running';

type HookRef = string | HookPoint;

/** A JavaScript edit: mutate `act.data` in place. Splits the compiled graph at its point. */
export type EditFn = (act: Activation, point: HookPoint) => void;

/**
 * Hooks, TransformerLens style. At one point they run in this order: compiled interventions
 * (in the order given), then JavaScript edits, then captures, so a capture holds the value
 * the rest of the forward pass used.
 */
export type Hook =
  | { readonly kind: 'capture'; readonly at: HookRef }
  | { readonly kind: 'intervene'; readonly at: HookRef; readonly intervention: Intervention }
  | { readonly kind: 'edit'; readonly at: HookRef; readonly fn: EditFn };

export interface ResolvedHook {
  readonly hook: Hook;
  readonly point: HookPoint;
  readonly index: number;
}

export function resolveHooks(hooks: readonly Hook[], numLayers: number, hiddenSize: number): ResolvedHook[] {
  return hooks.map((hook) => {
    const point = typeof hook.at === 'string' ? parseHookName(hook.at, numLayers) : checkPoint(hook.at, numLayers);
    if (hook.kind === 'intervene' && hook.intervention.dim !== hiddenSize) {
      throw new InvalidInputError(
        `intervention at layer ${point.layer} has size ${hook.intervention.dim} but the model's hidden size is ${hiddenSize}`,
      );
    }
    return { hook, point, index: pointIndex(point) };
  });
}

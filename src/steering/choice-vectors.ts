import path from 'node:path';
import { InvalidInputError } from '../io/errors.js';
import type { Hook } from '../runtime/hooks.js';
import type { PositionSelector } from '../runtime/positions.js';
import { CHOICE_NAME, type ChoiceVector } from './choose-spec.js';
import { ModelMismatchError, type ModelShape } from './model-match.js';
import { compileSteeringSpec, parseSteeringSpec, type InterventionSpec, type ResolvedIntervention, type SpecResolver } from './spec.js';

/**
 * The vectors a `choose` section offers, checked once against the model: named, described and
 * with the coefficient that strength 1 means. Applying one is compiling a plain spec
 * intervention, so a chosen vector steers exactly as the same vector written into a spec would.
 */

export interface OfferedVector {
  readonly name: string;
  /** The reference as written (a file path or registry name). */
  readonly ref: string;
  /** What it steers toward, as the model is told. */
  readonly concept: string;
  readonly layers: InterventionSpec['layers'];
  /** The coefficient at strength 1. */
  readonly coefficient: number;
  /** What it resolves to at strength 1 (layers, coefficient and where that came from). */
  readonly resolved: ResolvedIntervention;
}

interface OfferContext {
  readonly model: ModelShape;
  readonly resolve: SpecResolver;
  /** The spec's `force`: vectors made on another model are applied with a warning. */
  readonly force: boolean;
}

/** Checks and describes each offered vector; `where` prefixes errors (e.g. "choose.vectors"). */
export function offerVectors(list: readonly ChoiceVector[], ctx: OfferContext, where: string): OfferedVector[] {
  const names = new Set<string>();
  return list.map((v, i) => {
    const at = `${where}.${i}`;
    const name = v.name ?? path.basename(v.vector).replace(/\.(safetensors|gguf)$/i, '');
    if (!CHOICE_NAME.test(name)) throw new InvalidInputError(`${at}: the name "${name}" (from the file name) is not a short identifier: give "name"`);
    if (names.has(name)) throw new InvalidInputError(`${at}: the name "${name}" is offered twice: give each vector its own "name"`);
    names.add(name);
    const vector = ctx.resolve.vector(v.vector);
    const recommended = vector.meta.recommended?.coefficient;
    if (v.coefficient === 'recommended' && recommended === undefined) throw new InvalidInputError(`${at}: coefficient "recommended" but the vector records none`);
    const coefficient = typeof v.coefficient === 'number' ? v.coefficient : (recommended ?? 1);
    const concept = (v.concept ?? vector.meta.auto?.concept ?? vector.meta.description ?? name).slice(0, 200);
    let resolved: ResolvedIntervention | undefined;
    const offered = { name, ref: v.vector, concept, layers: v.layers, coefficient };
    choiceHooks(offered, 1, 'all', ctx, at, (r) => (resolved = r));
    return { ...offered, resolved: resolved! };
  });
}

/**
 * Hooks of one offered vector at `strength` × its coefficient on `positions`: the plain spec
 * intervention { vector, layers, coefficient, positions } compiled as any spec is.
 */
export function choiceHooks(
  v: Pick<OfferedVector, 'ref' | 'layers' | 'coefficient'>,
  strength: number,
  positions: PositionSelector,
  ctx: OfferContext,
  where: string,
  report?: (r: ResolvedIntervention) => void,
): Hook[] {
  const spec = parseSteeringSpec({ interventions: [choiceIntervention(v, strength, positions)], ...(ctx.force ? { force: true } : {}) }, where);
  try {
    return compileSteeringSpec(spec, ctx.model, ctx.resolve, report);
  } catch (e) {
    // The one-intervention spec is ours: name the offered vector, not "interventions.0".
    if (e instanceof ModelMismatchError) throw new ModelMismatchError(where, e.detail);
    if (e instanceof InvalidInputError && e.message.startsWith('interventions.0')) throw new InvalidInputError(`${where}${e.message.slice('interventions.0'.length)}`, { cause: e });
    throw e;
  }
}

/** The plain spec intervention a choice amounts to (reported, so a run can be repeated without choosing). */
export function choiceIntervention(v: Pick<OfferedVector, 'ref' | 'layers' | 'coefficient'>, strength: number, positions: PositionSelector): Record<string, unknown> {
  return { vector: v.ref, layers: v.layers, coefficient: strength * v.coefficient, positions };
}

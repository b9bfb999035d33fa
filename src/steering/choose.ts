import { InvalidInputError } from '../io/errors.js';
import type { HookedModel } from '../runtime/model.js';
import { ProbePolicy } from './choose-probe.js';
import { ToolChooser } from './choose-tools.js';
import type { SpecResolver, SteeringSpec } from './spec.js';

/** A spec's `choose` section compiled for a model: the tool the model calls, or the probe policy. */
export type Chooser = ToolChooser | ProbePolicy;

/**
 * Compiles `spec.choose` (undefined without one). Tools mode decodes with its own loop
 * (../decoding/switching.ts), which takes the `decoding` section's logits processors but not
 * its guidance runs, reranking or selection; probe mode picks a spec and then generates as any
 * spec does, so it takes the whole `decoding` section.
 */
export function compileChooser(model: HookedModel, spec: SteeringSpec, resolve: SpecResolver): Chooser | undefined {
  const choose = spec.choose;
  if (!choose) return undefined;
  const force = spec.force === true;
  if (choose.mode === 'probe') return new ProbePolicy(model, choose, resolve, force);
  const d = spec.decoding;
  const unsupported = d ? (['contrast', 'cfg', 'guide', 'rerank', 'select'] as const).filter((k) => d[k] !== undefined) : [];
  if (unsupported.length > 0) throw new InvalidInputError(`choose mode "tools" takes decoding.processors only, not decoding.${unsupported.join(', decoding.')}`);
  return new ToolChooser(model, choose, resolve, force);
}

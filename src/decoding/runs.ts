import { InvalidInputError } from '../io/errors.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import type { StreamSetup } from './lockstep.js';
import type { DecodingPlan, GuideRun } from './plan.js';
import { alignVocabularies } from './vocab-align.js';

/** Checks a plan's numbers and run references before any forward pass. */
export function checkPlan(plan: DecodingPlan): void {
  const runs = plan.runs.length;
  for (const t of plan.terms) {
    if (!Number.isFinite(t.weight)) throw new InvalidInputError(`${t.name}: weight must be a finite number, got ${t.weight}`);
    for (const s of [t.plus, t.minus]) if (!Number.isInteger(s) || s < 0 || s > runs) throw new InvalidInputError(`${t.name}: run ${s} does not exist (0..${runs})`);
  }
  for (const c of plan.cuts) {
    if (!(c.beta > 0 && c.beta <= 1)) throw new InvalidInputError(`plausibility must be in (0, 1], got ${c.beta}`);
    if (!Number.isInteger(c.stream) || c.stream < 0 || c.stream > runs) throw new InvalidInputError(`plausibility cut: run ${c.stream} does not exist (0..${runs})`);
  }
  if (plan.rerank) {
    const { topK, weight } = plan.rerank;
    if (!Number.isInteger(topK) || topK < 1) throw new InvalidInputError(`rerank topK must be a positive integer, got ${topK}`);
    if (!Number.isFinite(weight)) throw new InvalidInputError(`rerank weight must be a finite number, got ${weight}`);
  }
  if (plan.select) {
    const { candidates, every } = plan.select;
    if (!Number.isInteger(candidates) || candidates < 1 || candidates > 256) throw new InvalidInputError(`candidates must be an integer in 1..256, got ${candidates}`);
    if (every !== undefined && (!Number.isInteger(every) || every < 1)) throw new InvalidInputError(`select every must be a positive integer (tokens), got ${every}`);
  }
}

/**
 * The lockstep run of a guide: its model, hooks and prompts per row. A guide of another
 * model gets each row's prompt mapped into its vocabulary; a fixed prompt (CFG's negative
 * prompt) that encodes to nothing falls back to each row's last prompt token, the
 * unconditional context Hugging Face's CFG uses.
 */
export function guideStream(run: GuideRun, main: HookedModel, mainHooks: readonly Hook[], rowPrompts: readonly (readonly number[])[]): StreamSetup {
  const model = run.model ?? main;
  const aligned = model === main ? undefined : alignVocabularies(main, model, run.name);
  const vocab = aligned && !aligned.identical ? aligned : undefined;
  const hooks = run.hooks === 'main' ? mainHooks : run.hooks;
  let prompts: (readonly number[])[];
  if (run.prompt !== undefined) {
    const fixed = model.encode(run.prompt);
    prompts = rowPrompts.map((p) => (fixed.length > 0 ? fixed : (vocab ? vocab.feed(p[p.length - 1]) : [p[p.length - 1]])));
  } else {
    prompts = rowPrompts.map((p) => (vocab ? p.flatMap((id) => vocab.feed(id)) : p));
  }
  return { name: run.name, model, hooks, prompts, vocab };
}

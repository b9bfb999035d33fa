import { Command, Option } from 'commander';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { compileDecoding, type DecodingSpec } from '../decoding/decoding-spec.js';
import { InvalidInputError } from '../io/errors.js';
import { ModelMismatchError } from '../steering/model-match.js';
import { isReplaceOperator } from '../steering/replace-operators.js';
import { fileResolver, parseSteerShorthand, readSteeringSpecFile, steeringHooks, type CompiledSpec } from '../steering/resolve.js';
import { decodingFromFlags, type DecodingFlags } from './decoding-flags.js';
import { parseSteeringSpec, type ResolvedIntervention, type SteeringSpec } from '../steering/spec.js';

export interface SteerFlags {
  steer?: string[];
  steerSpec?: string;
  force?: boolean;
}

/** --steer, --steer-spec and --force, shared by every command that runs the model. */
export function addSteerOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--steer <vector...>', 'steer with FILE[:coefficient][@layers] (add operator; coefficient and layers default to the recommended ones, 1 without a recommendation), or FILE:=level / FILE:<=level to hold the projection at least / at most at a level ("recommended" for the recommended one)'))
    .option('--steer-spec <file>', 'steer with a steering spec (JSON; `steerer vector schema` prints its schema)')
    .option('--force', 'apply vectors made on another model (same hidden size) instead of refusing them, with a warning');
}

/** What the flags steer with: hooks, and the `decoding` section (spec file overlaid with the decoding flags). */
interface FlagSteering extends CompiledSpec {
  readonly decodingSpec?: DecodingSpec;
}

/**
 * Everything `steerer generate` steers with: hooks from --steer / --steer-spec, and the
 * spec file's `decoding` section overlaid with the decoding flags.
 */
export function generationSteeringFromFlags(model: HookedModel, flags: SteerFlags & DecodingFlags, report?: (r: ResolvedIntervention) => void): FlagSteering {
  const hooks = steeringFromFlags(model, flags, report);
  const file = flags.steerSpec ? readSteeringSpecFile(flags.steerSpec) : undefined;
  const decoding = decodingFromFlags(flags, file?.spec.decoding);
  if (!decoding) return { hooks };
  const resolve = fileResolver(file?.baseDir ?? process.cwd(), { threads: model.threads, device: model.device });
  return { hooks, decoding: compileDecoding(decoding, model, resolve), decodingSpec: decoding };
}

/**
 * Hooks from --steer shorthands (paths relative to the working directory) and --steer-spec.
 * A vector made on another model is refused unless --force (or the spec's "force"); a forced
 * one is applied with a warning on stderr.
 */
export function steeringFromFlags(model: HookedModel, flags: SteerFlags, report?: (r: ResolvedIntervention) => void): Hook[] {
  const hear = (r: ResolvedIntervention): void => {
    if (r.warning) process.stderr.write(`steerer: warning: ${r.warning} (applied because of --force)\n`);
    report?.(r);
  };
  const compile = (spec: SteeringSpec, baseDir: string, source: string): Hook[] => {
    try {
      return steeringHooks(model, flags.force ? { ...spec, force: true } : spec, baseDir, hear);
    } catch (e) {
      // The library's hint names the spec field; here the flag is the way to override.
      if (e instanceof ModelMismatchError) throw new InvalidInputError(`${source}: ${e.detail}; give --force to apply it anyway`, { cause: e });
      throw e;
    }
  };
  const hooks: Hook[] = [];
  if (flags.steer?.length) {
    const spec = parseSteeringSpec({ interventions: flags.steer.map(parseSteerShorthand) }, '--steer');
    hooks.push(...compile(spec, process.cwd(), '--steer'));
  }
  if (flags.steerSpec) {
    const { spec, baseDir } = readSteeringSpecFile(flags.steerSpec);
    hooks.push(...compile(spec, baseDir, `--steer-spec ${flags.steerSpec}`));
  }
  return hooks;
}

/** One line per intervention saying what is applied, e.g. `steering: sad.safetensors at layer 1, coefficient 4.76 (recommended)`. */
export function describeResolved(r: ResolvedIntervention): string {
  return r.when ? `${describeUnconditional(r)}, ${describeCondition(r.when)}` : describeUnconditional(r);
}

/** "when …": what a conditional intervention waits for. */
function describeCondition(c: NonNullable<ResolvedIntervention['when']>): string {
  const score = c.measure === 'probe logit' ? `the logit of probe ${c.source}` : `the ${c.measure} with ${c.source}`;
  const at = c.read === 'prompt' ? `the prompt's ${c.reduce === 'last' ? 'last token' : 'mean'}` : c.read === 'token' ? 'each token' : 'the running mean over the tokens so far';
  return `only when ${score} at layer ${c.layer} (${at}) is ${c.compare} ${Number(c.threshold.toPrecision(4))}`;
}

function describeUnconditional(r: ResolvedIntervention): string {
  const layers = r.layers.length === 1 ? `layer ${r.layers[0]}` : `layers ${r.layers.join(',')}`;
  if (r.kind === 'vector' && isReplaceOperator(r.operator)) {
    const source = r.source === undefined ? '' : ` from ${JSON.stringify(r.source.length > 40 ? `${r.source.slice(0, 40)}…` : r.source)}`;
    return `steering: ${r.operator} ablation at ${layers}${r.operator === 'mean' ? ` (${r.vector})` : source}`;
  }
  if (r.kind === 'vector' && r.target) {
    const t = r.target;
    const levels = t.values.map((v) => Number(v.toPrecision(4))).join('/');
    return `steering: ${t.probe ?? r.vector} at ${layers}, held at ${t.atMost ? 'most' : 'least'} at ${levels} (${t.units === 'logit' ? "the probe's logit" : `${t.units} projection`}${t.from === 'recommended' ? ', recommended' : ''})`;
  }
  const from = r.coefficientFrom === 'given' ? '' : r.coefficientFrom === 'recommended' ? ' (recommended)' : ' (default: the vector records no recommended coefficient)';
  const op = r.operator === 'add' ? '' : ` ${r.operator}`;
  const what = r.kind === 'vector' ? r.vector : `${r.sae} feature${r.features.length === 1 ? '' : 's'} ${r.features.join(',')}`;
  return `steering: ${what} at ${layers},${op} coefficient ${Number(r.coefficient.toPrecision(4))}${from}`;
}

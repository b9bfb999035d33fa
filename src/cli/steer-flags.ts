import { Command, Option } from 'commander';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { compileDecoding } from '../decoding/decoding-spec.js';
import { fileResolver, parseSteerShorthand, readSteeringSpecFile, steeringHooks, type CompiledSpec } from '../steering/resolve.js';
import { decodingFromFlags, type DecodingFlags } from './decoding-flags.js';
import { parseSteeringSpec, type ResolvedIntervention } from '../steering/spec.js';

export interface SteerFlags {
  steer?: string[];
  steerSpec?: string;
}

/** --steer and --steer-spec, shared by every command that runs the model. */
export function addSteerOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--steer <vector...>', 'steer with FILE[:coefficient][@layers] (add operator; coefficient and layers default to the recommended ones, 1 without a recommendation)'))
    .option('--steer-spec <file>', 'steer with a steering spec (JSON; `steerer vector schema` prints its schema)');
}

/**
 * Everything `steerer generate` steers with: hooks from --steer / --steer-spec, and the
 * spec file's `decoding` section overlaid with the decoding flags.
 */
export function generationSteeringFromFlags(model: HookedModel, flags: SteerFlags & DecodingFlags, report?: (r: ResolvedIntervention) => void): CompiledSpec {
  const hooks = steeringFromFlags(model, flags, report);
  const file = flags.steerSpec ? readSteeringSpecFile(flags.steerSpec) : undefined;
  const decoding = decodingFromFlags(flags, file?.spec.decoding);
  if (!decoding) return { hooks };
  const resolve = fileResolver(file?.baseDir ?? process.cwd(), { threads: model.threads, device: model.device });
  return { hooks, decoding: compileDecoding(decoding, model, resolve) };
}

/** Hooks from --steer shorthands (paths relative to the working directory) and --steer-spec. */
export function steeringFromFlags(model: HookedModel, flags: SteerFlags, report?: (r: ResolvedIntervention) => void): Hook[] {
  const hooks: Hook[] = [];
  if (flags.steer?.length) {
    const spec = parseSteeringSpec({ interventions: flags.steer.map(parseSteerShorthand) }, '--steer');
    hooks.push(...steeringHooks(model, spec, process.cwd(), report));
  }
  if (flags.steerSpec) {
    const { spec, baseDir } = readSteeringSpecFile(flags.steerSpec);
    hooks.push(...steeringHooks(model, spec, baseDir, report));
  }
  return hooks;
}

/** One line per vector saying what is applied, e.g. `steering: sad.safetensors at layer 1, coefficient 4.76 (recommended)`. */
export function describeResolved(r: ResolvedIntervention): string {
  const layers = r.layers.length === 1 ? `layer ${r.layers[0]}` : `layers ${r.layers.join(',')}`;
  const from = r.coefficientFrom === 'given' ? '' : r.coefficientFrom === 'recommended' ? ' (recommended)' : ' (default: the vector records no recommended coefficient)';
  const op = r.operator === 'add' ? '' : ` ${r.operator}`;
  return `steering: ${r.vector} at ${layers},${op} coefficient ${Number(r.coefficient.toPrecision(4))}${from}`;
}

import { Command, Option } from 'commander';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { parseSteerShorthand, readSteeringSpecFile, steeringHooks } from '../steering/resolve.js';
import { parseSteeringSpec } from '../steering/spec.js';

export interface SteerFlags {
  steer?: string[];
  steerSpec?: string;
}

/** --steer and --steer-spec, shared by every command that runs the model. */
export function addSteerOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--steer <vector...>', 'steer with FILE[:coefficient][@layers] (add operator; layers default to the recommended ones)'))
    .option('--steer-spec <file>', 'steer with a steering spec (JSON; `steerer vector schema` prints its schema)');
}

/** Hooks from --steer shorthands (paths relative to the working directory) and --steer-spec. */
export function steeringFromFlags(model: HookedModel, flags: SteerFlags): Hook[] {
  const hooks: Hook[] = [];
  if (flags.steer?.length) {
    const spec = parseSteeringSpec({ interventions: flags.steer.map(parseSteerShorthand) }, '--steer');
    hooks.push(...steeringHooks(model, spec, process.cwd()));
  }
  if (flags.steerSpec) {
    const { spec, baseDir } = readSteeringSpecFile(flags.steerSpec);
    hooks.push(...steeringHooks(model, spec, baseDir));
  }
  return hooks;
}

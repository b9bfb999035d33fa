import fs from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../io/errors.js';
import type { Hook } from '../runtime/hooks.js';
import type { Device } from '../runtime/device.js';
import type { HookedModel } from '../runtime/model.js';
import { openModel } from '../runtime/open-model.js';
import { parseLayerList, splitFileNumber } from './shorthand.js';
import { loadProbe } from '../probes/probe-file.js';
import type { LinearProbe } from '../probes/probe.js';
import { compileDecoding } from '../decoding/decoding-spec.js';
import type { DecodingPlan } from '../decoding/plan.js';
import { loadSae } from '../sae/load-sae.js';
import type { Sae } from '../sae/sae.js';
import { compileSteeringSpec, parseSteeringSpec, SPEC_LIMITS, type InterventionSpec, type ResolvedIntervention, type SpecResolver, type SteeringSpec } from './spec.js';
import type { SteeringVector } from './vector.js';
import { loadVector } from './vector-file.js';
import type { ModelShape } from './model-match.js';

/**
 * Resolves a spec's vector, SAE, model and probe references as paths relative to `baseDir`,
 * loading each once. Guide models get `threads` ORT threads on `device`.
 */
export function fileResolver(baseDir: string, opts: { threads?: number; device?: Device } = {}): SpecResolver {
  const cached = <T>(cache: Map<string, T>, what: string, load: (file: string) => T) => (ref: string): T => {
    const file = path.resolve(baseDir, ref);
    let v = cache.get(file);
    if (!v) {
      if (!fs.existsSync(file)) throw new InvalidInputError(`${what} ${ref} not found (looked in ${baseDir})`);
      v = load(file);
      cache.set(file, v);
    }
    return v;
  };
  return {
    vector: cached(new Map<string, SteeringVector>(), 'vector file', loadVector),
    sae: cached(new Map<string, Sae>(), 'SAE', (file) => loadSae(file)),
    model: cached(new Map<string, HookedModel>(), 'model', (file) => openModel(file, { threads: opts.threads, device: opts.device })),
    probe: cached(new Map<string, LinearProbe>(), 'probe file', loadProbe),
  };
}

/** Reads a spec file (JSON); its vector paths are relative to the spec's folder. */
export function readSteeringSpecFile(file: string): { spec: SteeringSpec; baseDir: string } {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InvalidInputError(`steering spec ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not valid JSON (${(e as Error).message})`}`);
  }
  return { spec: parseSteeringSpec(json, `steering spec ${file}`), baseDir: path.dirname(path.resolve(file)) };
}

/**
 * The CLI shorthand FILE[:coefficient][@layers] (layers: N, N-M, comma lists, "all" or
 * "recommended"; default recommended) as one spec intervention with the add operator.
 * FILE:=T (or :>=T) holds the projection at least at T, FILE:<=T at most (T a number or
 * "recommended"): a `target` in place of the coefficient (./target-spec.ts).
 */
export function parseSteerShorthand(arg: string): InterventionSpec {
  const at = /^(.*?)(?:@([\d,\s-]+|all|recommended))?$/i.exec(arg)!;
  const held = /^(.+?):(>=|<=|=)(recommended|-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)$/i.exec(at[1]);
  const { file, number } = held ? { file: held[1], number: undefined } : splitFileNumber(at[1]);
  const level = held ? (held[3].toLowerCase() === 'recommended' ? 'recommended' : Number(held[3])) : undefined;
  if (level === 'recommended' && held![2] === '<=') throw new InvalidInputError(`--steer ${arg}: a recommended target holds at least or at most by the sign of the recommended coefficient: write ${held![1]}:=recommended`);
  const target = level === undefined ? {} : { target: held![2] === '<=' ? { value: level, atMost: true } : level };
  let layers: InterventionSpec['layers'] = 'recommended';
  const layerText = at[2]?.trim().toLowerCase();
  if (layerText === 'all' || layerText === 'recommended') layers = layerText;
  else if (layerText !== undefined) {
    layers = parseLayerList(layerText, {
      limit: SPEC_LIMITS.layers,
      flag: '--steer layers',
      alsoAccepted: '"all" or "recommended"',
      // Bounded before the range is spelled out (the spec parser checks the layers themselves).
      outOfRange: (l) => `--steer layer ${l} is out of range (layers are below ${SPEC_LIMITS.layers})`,
    });
  }
  // No coefficient: the vector's recommended one (compileSteeringSpec falls back to 1 without one).
  const spec = parseSteeringSpec({ interventions: [{ vector: file, ...(number === undefined ? {} : { coefficient: Number(number) }), ...target, layers }] }, `--steer ${arg}`);
  return spec.interventions[0] as InterventionSpec;
}

/** A loaded model as specs are checked against it: its shape, name and architecture (see model-match.ts). */
export function modelShape(model: HookedModel): ModelShape {
  return { hiddenSize: model.spec.hiddenSize, numLayers: model.spec.numLayers, architecture: model.spec.architecture, name: model.source.name };
}

/** Hooks for a model from a spec whose file references resolve against `baseDir`. */
export function steeringHooks(model: HookedModel, spec: SteeringSpec, baseDir: string, report?: (r: ResolvedIntervention) => void): Hook[] {
  return compileSteeringSpec(spec, modelShape(model), fileResolver(baseDir), report);
}

/** A whole spec for generation: activation hooks plus the compiled `decoding` section, if any. */
export interface CompiledSpec {
  readonly hooks: Hook[];
  readonly decoding?: DecodingPlan;
}

export function compileSpecForGeneration(model: HookedModel, spec: SteeringSpec, resolve: SpecResolver, report?: (r: ResolvedIntervention) => void): CompiledSpec {
  const hooks = compileSteeringSpec(spec, modelShape(model), resolve, report);
  return { hooks, decoding: spec.decoding ? compileDecoding(spec.decoding, model, resolve) : undefined };
}

/**
 * What the readers of other tools' SAE folders (saelens-format.ts, sparsify-format.ts) share:
 * the load options, TransformerLens hook names, and typed, checked reads of a cfg.json.
 * Kept apart so each format's reader holds only that format's rules.
 */
import { HOOK_SITES, type HookPoint } from '../graph/hook-points.js';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { parseJson, readText } from '../io/json-records.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { quote } from './sae-tensors.js';

export interface SaeLoadOptions {
  /**
   * Input scale of an SAE trained on normalised activations (SAELens `expected_average_only_in`)
   * whose files do not store the factor. Refused for SAEs that do not normalise their input.
   */
  readonly inputScale?: number;
  /** Hook point, when the files do not say it (a sparsify folder with an unusual name); overrides the files. */
  readonly hook?: HookPoint;
}

// ---------------------------------------------------------------------------------------------
// Hook names

const TL_NAME = /^blocks\.(0|[1-9]\d*)\.(.+)$/;

/**
 * Parse a TransformerLens hook name (`blocks.{layer}.hook_{site}`) without a model to check the
 * layer against (checkSaeFitsModel does that later). Anything that is not one of Steerer's sites
 * (`blocks.3.attn.hook_z`, `blocks.3.hook_mlp_in`, `hook_embed`, ...) is an InvalidInputError.
 */
export function parseHookNameLoose(name: string): HookPoint {
  const m = TL_NAME.exec(name);
  const site = m ? HOOK_SITES.find((s) => m[2] === `hook_${s}`) : undefined;
  if (!m || site === undefined || !Number.isSafeInteger(Number(m[1]))) {
    throw new InvalidInputError(
      `hook ${quote(name)} is not a residual/branch output Steerer can hook (expected blocks.{layer}.hook_{${HOOK_SITES.join('|')}})`,
    );
  }
  return { layer: Number(m[1]), site };
}

export function checkHookOption(hook: HookPoint): HookPoint {
  if (!Number.isSafeInteger(hook.layer) || hook.layer < 0 || !HOOK_SITES.includes(hook.site)) {
    throw new InvalidInputError(`invalid hook option ${JSON.stringify(hook)}: expected {layer: a non-negative integer, site: one of ${HOOK_SITES.join(', ')}}`);
  }
  return { layer: hook.layer, site: hook.site };
}

export function checkScaleOption(scale: number): number {
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
    throw new InvalidInputError(`input scale must be a positive number, got ${String(scale)}`);
  }
  return scale;
}

// ---------------------------------------------------------------------------------------------
// cfg.json access

type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Typed reads of a cfg.json; `fallback` is SAELens 6's nested metadata, consulted when a key is not at the top. */
export class Cfg {
  constructor(
    readonly path: string,
    readonly text: string,
    private readonly top: JsonObject,
    private readonly fallback: JsonObject = {},
  ) {}

  static read(path: string): Cfg {
    const text = readText(path);
    let json: unknown;
    try {
      json = parseJson(path, text);
    } catch (err) {
      // JSON.parse may quote the offending text, newlines included; keep the problem to one line.
      if (err instanceof ModelFileError) throw new ModelFileError(path, err.problem.replace(/\s+/g, ' ').slice(0, 200), { cause: err });
      throw err;
    }
    if (!isObject(json)) throw new ModelFileError(path, 'expected a JSON object');
    const meta = isObject(json.metadata) ? json.metadata : isObject(json.meta) ? json.meta : undefined;
    return new Cfg(path, text, json, meta);
  }

  fail(problem: string): never {
    throw new ModelFileError(this.path, problem);
  }

  /** null counts as absent: SAELens writes `"hook_head_index": null` and the like. */
  get(key: string): unknown {
    const v = Object.hasOwn(this.top, key) ? this.top[key] : this.fallback[key];
    return v === null ? undefined : v;
  }

  str(key: string): string | undefined {
    const v = this.get(key);
    if (v !== undefined && typeof v !== 'string') this.fail(`"${key}" must be a string, got ${JSON.stringify(v)}`);
    return v as string | undefined;
  }

  bool(key: string): boolean | undefined {
    const v = this.get(key);
    if (v !== undefined && typeof v !== 'boolean') this.fail(`"${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean | undefined;
  }

  /** A non-negative integer, or undefined when absent. */
  int(key: string): number | undefined {
    const v = this.get(key);
    if (v !== undefined && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
      this.fail(`"${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    return v as number | undefined;
  }

  positiveInt(key: string): number | undefined {
    const v = this.int(key);
    if (v === 0) this.fail(`"${key}" must be a positive integer, got 0`);
    return v;
  }

  /** A positive finite number, or undefined when absent. */
  scale(key: string): number | undefined {
    const v = this.get(key);
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
      this.fail(`"${key}" must be a positive number, got ${JSON.stringify(v)}`);
    }
    return v as number | undefined;
  }

  object(key: string): JsonObject | undefined {
    const v = this.get(key);
    if (v !== undefined && !isObject(v)) this.fail(`"${key}" must be an object, got ${JSON.stringify(v)}`);
    return v as JsonObject | undefined;
  }
}

export function withSafetensors<T>(path: string, body: (f: SafetensorsFile) => T): T {
  const f = SafetensorsFile.open(path);
  try {
    return body(f);
  } finally {
    f.close();
  }
}

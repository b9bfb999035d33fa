import fs from 'node:fs';
import path from 'node:path';
import { ModelFileError } from '../io/errors.js';
import { loadProbe } from '../probes/probe-file.js';
import type { LinearProbe } from '../probes/probe.js';
import type { HookedModel } from '../runtime/model.js';
import { openModel } from '../runtime/open-model.js';
import { loadSae } from '../sae/load-sae.js';
import type { Sae } from '../sae/sae.js';
import { ModelMismatchError } from '../steering/model-match.js';
import { compileSpecForGeneration, type CompiledSpec } from '../steering/resolve.js';
import { compileChooser, type Chooser } from '../steering/choose.js';
import { parseSteeringSpec, type ResolvedIntervention, type SpecResolver } from '../steering/spec.js';
import { HttpError, toHttpError } from './http-error.js';
import type { VectorLibrary } from './vector-library.js';
import { checkVectorName } from './vector-registry.js';

/**
 * The `steering` field of a request: the one steering spec, validated and compiled against
 * the served model. Over HTTP a spec names things, it never gives paths: vectors by registry
 * name, SAEs, probes and guide models by their name under DATA_DIR/saes, /probes, /models.
 * A vector name means the caller's own vector first (`--users`), then the shared one.
 */

interface RequestSpec {
  readonly compiled: CompiledSpec;
  /** What each vector intervention resolved to (the coefficient may be the vector's recommended one). */
  readonly resolved: readonly ResolvedIntervention[];
  /** Canonical JSON of the parsed spec: equal keys, equal hooks (batching compares these). */
  readonly key: string;
  /** The spec's `choose` section, compiled (./chosen-generation.ts runs it). */
  readonly chooser?: Chooser;
}

const NO_STEERING: RequestSpec = { compiled: { hooks: [] }, resolved: [], key: '' };

export class RequestSteering {
  private readonly resolver: Omit<SpecResolver, 'vector'>;

  constructor(
    private readonly model: HookedModel,
    private readonly library: VectorLibrary,
    dataDir: string,
  ) {
    const named = <T>(folder: string, what: string, load: (file: string) => T) => {
      const cache = new Map<string, T>();
      return (ref: string): T => {
        checkVectorName(ref, what);
        const file = path.join(dataDir, folder, ref);
        let v = cache.get(file);
        if (!v) {
          if (!fs.existsSync(file)) throw new HttpError(400, `steering: no ${what} named "${ref}" (looked in ${folder}/ of the data directory)`, `${what}_not_found`);
          try {
            v = load(file);
          } catch (e) {
            // Name the file as the client knows it (relative to the data directory), never by its absolute path.
            if (e instanceof ModelFileError) throw new HttpError(400, `steering: ${folder}/${ref} cannot be used: ${e.problem}`, `invalid_${what}_file`);
            throw e;
          }
          cache.set(file, v);
        }
        return v;
      };
    };
    this.resolver = {
      sae: named<Sae>('saes', 'sae', (f) => loadSae(f)),
      probe: named<LinearProbe>('probes', 'probe', loadProbe),
      model: named<HookedModel>('models', 'model', (f) => openModel(f, { threads: this.model.threads, device: this.model.device })),
    };
  }

  /**
   * Validates and compiles a request's `steering` value (undefined or null: no steering);
   * `caller` is the user who sent it (callerOf), whose own vectors its names reach first.
   */
  compile(value: unknown, caller?: string): RequestSpec {
    if (value === undefined || value === null) return NO_STEERING;
    const view = this.library.view(caller);
    // Which library each name was found in: one spec may mean different vectors for two users.
    const owners: string[] = [];
    const vector = (ref: string) => {
      const holder = view.find(checkVectorName(ref, 'vector'));
      if (!holder) throw new HttpError(400, `steering: no vector named "${ref}" in the registry (GET /v1/vectors lists them)`, 'vector_not_found');
      owners.push(holder.owner);
      return holder.get(ref);
    };
    try {
      const spec = parseSteeringSpec(value, 'steering');
      const resolved: ResolvedIntervention[] = [];
      const compiled = compileSpecForGeneration(this.model, spec, { ...this.resolver, vector }, (r) => resolved.push(r));
      const chooser = compileChooser(this.model, spec, { ...this.resolver, vector });
      return { compiled, resolved, ...(chooser ? { chooser } : {}), key: owners.some((o) => o !== '') ? `${JSON.stringify(spec)}\u0000${JSON.stringify(owners)}` : JSON.stringify(spec) };
    } catch (e) {
      if (e instanceof ModelMismatchError) {
        throw new HttpError(400, `steering: ${e.where}: ${e.detail}; add "force": true to "steering" to apply it anyway`, 'vector_model_mismatch', 'steering');
      }
      const err = toHttpError(e);
      throw err.status === 500 ? err : new HttpError(err.status, err.message, err.code, err.param ?? 'steering');
    }
  }
}

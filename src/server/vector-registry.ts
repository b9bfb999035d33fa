import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { clearStaleTempFiles } from '../io/stale-temp.js';
import { stageFiles } from '../io/staged-files.js';
import { checkDirectionValues } from '../steering/spec.js';
import type { HookSite } from '../graph/hook-points.js';
import type { ModelIdentity, SteeringVector } from '../steering/vector.js';
import { BESIDE_VECTOR, isVectorName, loadBundledVector, MAX_VECTOR_NAME, type BundledFile, type VectorBundle } from '../steering/vector-bundle.js';
import { loadVector, saveVector } from '../steering/vector-file.js';
import { HttpError } from './http-error.js';
import type { Store } from './store.js';

/**
 * Named steering vectors for one served model: tensors as `DIR/NAME.safetensors`, metadata
 * rows in the store. Names are a closed alphabet, so a name can never reach outside DIR.
 * A file dropped into DIR by hand is registered at start-up; a row whose file is gone is dropped.
 * Files made with a vector (NAME.data.json, NAME.lexicon.json, NAME.report.*) may sit beside it:
 * they travel in its bundle and go when it goes. One registry per library: the shared one
 * (owner '') and each user's (`--users`, owner = the user's name).
 */

export interface VectorInfo {
  readonly name: string;
  readonly description?: string;
  readonly createdAt: string;
  readonly method: string;
  readonly site: HookSite;
  readonly layers: number[];
  readonly norms: number[];
  readonly hiddenSize: number;
  readonly model: string;
  readonly recommended?: { readonly layers?: readonly number[]; readonly coefficient?: number };
  readonly concept?: string;
  readonly diagnostics?: SteeringVector['meta']['diagnostics'];
  readonly auto?: SteeringVector['meta']['auto'];
  /** Recommended coefficients adopted from human ratings (routes/preference.ts), oldest first. */
  readonly adoptions?: SteeringVector['meta']['adoptions'];
  /** A condition vector (`vector condition fit`): how it is read, for "when" in a spec. */
  readonly condition?: SteeringVector['meta']['condition'];
  readonly plots: { readonly diagnostics: boolean; readonly strength: boolean };
}

/** Throws a 400 unless `name` is a registry name (letters, digits, `_`, `-`, inner dots; no path). */
export function checkVectorName(name: unknown, param = 'name'): string {
  if (typeof name !== 'string' || !isVectorName(name)) {
    throw new HttpError(400, `${param} must be 1-${MAX_VECTOR_NAME} letters, digits, "_", "-" or inner dots (no slashes, no ".."), got ${JSON.stringify(name)}`, 'invalid_name', param);
  }
  return name;
}

function vectorInfo(name: string, v: SteeringVector): VectorInfo {
  const layers = [...v.directions.keys()].sort((a, b) => a - b);
  const m = v.meta;
  return {
    name,
    ...(m.description ? { description: m.description } : {}),
    createdAt: m.createdAt,
    method: m.method,
    site: m.site,
    layers,
    norms: layers.map((l) => Math.hypot(...v.directions.get(l)!)),
    hiddenSize: m.model.hiddenSize,
    model: m.model.name,
    ...(m.recommended ? { recommended: m.recommended } : {}),
    ...(m.auto ? { concept: m.auto.concept, auto: m.auto } : {}),
    ...(m.diagnostics ? { diagnostics: m.diagnostics } : {}),
    ...(m.adoptions ? { adoptions: m.adoptions } : {}),
    ...(m.condition ? { condition: m.condition } : {}),
    plots: { diagnostics: (m.diagnostics?.length ?? 0) > 0, strength: (m.auto?.strength?.curve.length ?? 0) > 0 },
  };
}

export class VectorRegistry {
  private readonly cache = new Map<string, SteeringVector>();

  constructor(
    readonly dir: string,
    private readonly store: Store,
    private readonly model: ModelIdentity,
    /** '' for the shared library, else the user whose library this is. */
    readonly owner = '',
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.reconcile();
  }

  list(): VectorInfo[] {
    return this.store.listVectors(this.owner).map((r) => r.info as unknown as VectorInfo);
  }

  info(name: string): VectorInfo {
    const row = this.store.getVector(checkVectorName(name), this.owner);
    if (!row) throw this.unknown(name);
    return row.info as unknown as VectorInfo;
  }

  has(name: string): boolean {
    return this.store.getVector(name, this.owner) !== undefined;
  }

  /** The vector's file (the files made with it sit beside it as NAME.data.json ...). */
  file(name: string): string {
    const row = this.store.getVector(checkVectorName(name), this.owner);
    if (!row) throw this.unknown(name);
    return row.file;
  }

  /** The vector itself (loaded once; a spec names it by its registry name). */
  get(name: string): SteeringVector {
    checkVectorName(name, 'vector');
    const cached = this.cache.get(name);
    if (cached) return cached;
    const row = this.store.getVector(name, this.owner);
    if (!row) throw this.unknown(name);
    const v = loadVector(row.file);
    this.cache.set(name, v);
    return v;
  }

  /**
   * Registers a vector; it must fit the served model. Writes the file atomically, then the row.
   * `beside`: files made with it (NAME.data.json ...), written first; older ones are dropped.
   */
  add(name: string, vector: SteeringVector, overwrite = false, beside: readonly BundledFile[] = []): VectorInfo {
    checkVectorName(name);
    if (!overwrite && this.has(name)) throw new HttpError(409, `a vector named "${name}" exists; delete it first or pass "overwrite": true`, 'name_taken', 'name');
    this.checkFits(vector);
    const file = this.fileOf(name);
    const staged = stageFiles(beside.map((f) => ({ path: this.pathOf(name, f.suffix), bytes: f.bytes })));
    try {
      this.removeBeside(name);
      staged.commit();
    } finally {
      staged.discard();
    }
    saveVector(file, vector);
    return this.register(name, file, vector);
  }

  /** Rewrites a registered vector's metadata: its file atomically (validated first), then its row; the files beside it stay. */
  updateMeta(name: string, meta: SteeringVector['meta']): VectorInfo {
    const row = this.store.getVector(checkVectorName(name), this.owner);
    if (!row) throw this.unknown(name);
    const vector = { ...this.get(name), meta };
    saveVector(row.file, vector);
    return this.register(name, row.file, vector);
  }

  /**
   * Registers a bundle's vector under `name` with the files that came with it, keeping the
   * vector's bytes as they are. All files are written before any is in place; nothing stays
   * if the vector does not load or does not fit the served model.
   */
  addBundle(bundle: VectorBundle, name: string, overwrite = false): VectorInfo {
    checkVectorName(name);
    if (!overwrite && this.has(name)) throw new HttpError(409, `a vector named "${name}" exists; delete it first or pass "overwrite=true"`, 'name_taken', 'name');
    const [vectorFile, ...beside] = bundle.files;
    const file = this.fileOf(name);
    // The vector last, so it is never in place without the files that came with it.
    const staged = stageFiles([...beside.map((f) => ({ path: this.pathOf(name, f.suffix), bytes: f.bytes })), { path: file, bytes: vectorFile.bytes }]);
    try {
      let vector: SteeringVector;
      try {
        vector = loadBundledVector(staged.files[staged.files.length - 1].temp, `${bundle.name}.safetensors`);
      } catch (e) {
        if (e instanceof InvalidInputError) throw new HttpError(400, `the bundle's vector is not valid: ${e.message}`, 'invalid_bundle');
        throw e;
      }
      this.checkFits(vector);
      this.removeBeside(name);
      staged.commit();
      return this.register(name, file, vector);
    } finally {
      staged.discard();
    }
  }

  /** Registers a vector from the bytes of a vector file; nothing is kept if they do not parse. */
  addFile(name: string, bytes: Buffer, overwrite = false, description?: string): VectorInfo {
    checkVectorName(name);
    if (!overwrite && this.has(name)) throw new HttpError(409, `a vector named "${name}" exists; delete it first or pass "overwrite": true`, 'name_taken', 'name');
    const tmp = path.join(this.dir, `.upload-${randomUUID()}.safetensors`);
    try {
      fs.writeFileSync(tmp, bytes);
      let vector: SteeringVector;
      try {
        vector = loadVector(tmp);
      } catch (e) {
        const problem = e instanceof ModelFileError ? e.problem : (e as Error).message;
        throw new HttpError(400, `the uploaded vector file is not valid: ${problem}`, 'invalid_vector_file', 'safetensors');
      }
      // An imported file's description names the file it came from: here a temporary name the client never saw.
      const said = description ?? (vector.meta.method === 'imported' ? `uploaded as "${name}"` : vector.meta.description);
      vector = { ...vector, meta: { ...vector.meta, ...(said ? { description: said } : {}) } };
      return this.add(name, vector, overwrite);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  remove(name: string): void {
    checkVectorName(name);
    const row = this.store.getVector(name, this.owner);
    if (!row) throw this.unknown(name);
    this.store.deleteVector(name, this.owner);
    this.cache.delete(name);
    fs.rmSync(row.file, { force: true });
    this.removeBeside(name);
  }

  private removeBeside(name: string): void {
    for (const suffix of BESIDE_VECTOR) fs.rmSync(this.pathOf(name, suffix), { force: true });
  }

  private register(name: string, file: string, vector: SteeringVector): VectorInfo {
    const info = vectorInfo(name, vector);
    this.store.putVector(name, file, info as unknown as Record<string, unknown>, this.owner);
    this.cache.set(name, vector);
    return info;
  }

  private checkFits(v: SteeringVector): void {
    const { hiddenSize } = v.meta.model;
    if (hiddenSize !== this.model.hiddenSize) {
      throw new HttpError(400, `the vector has hidden size ${hiddenSize} but the served model's is ${this.model.hiddenSize}`, 'vector_mismatch');
    }
    for (const [layer, d] of v.directions) {
      if (layer >= this.model.numLayers) throw new HttpError(400, `the vector has a direction for layer ${layer} but the served model has layers 0..${this.model.numLayers - 1}`, 'vector_mismatch');
      if (d.length !== hiddenSize) throw new HttpError(400, `the vector's direction for layer ${layer} has ${d.length} values but the model's hidden size is ${hiddenSize}`, 'vector_mismatch');
      try {
        checkDirectionValues(d, `the vector's direction for layer ${layer}`);
      } catch (e) {
        if (e instanceof InvalidInputError) throw new HttpError(400, e.message, 'invalid_vector_values');
        throw e;
      }
    }
  }

  private fileOf(name: string): string {
    return this.pathOf(name, '.safetensors');
  }

  private pathOf(name: string, suffix: string): string {
    const file = path.resolve(this.dir, `${name}${suffix}`);
    // Belt and braces: the name check already rules this out.
    if (path.dirname(file) !== path.resolve(this.dir)) throw new HttpError(400, `vector name "${name}" escapes the vector directory`, 'invalid_name', 'name');
    return file;
  }

  private unknown(name: string): HttpError {
    return new HttpError(404, `no vector named "${name}" in the registry (GET /v1/vectors lists them)`, 'vector_not_found');
  }

  /** Rows without files are dropped; vector files without rows are registered (bad files are skipped). */
  private reconcile(): void {
    clearStaleTempFiles(this.dir);
    for (const row of this.store.listVectors(this.owner)) if (!fs.existsSync(row.file)) this.store.deleteVector(row.name, this.owner);
    for (const entry of fs.readdirSync(this.dir)) {
      if (!entry.endsWith('.safetensors')) continue;
      if (entry.startsWith('.upload-')) {
        fs.rmSync(path.join(this.dir, entry), { force: true }); // left by a crash mid-upload
        continue;
      }
      const name = entry.slice(0, -'.safetensors'.length);
      if (!isVectorName(name) || this.has(name)) continue;
      const file = path.join(this.dir, entry);
      try {
        const v = loadVector(file);
        if (v.meta.model.hiddenSize === this.model.hiddenSize) this.register(name, file, v);
      } catch {
        // Not a vector this server can use; leave the file alone.
      }
    }
  }
}

import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { clearStaleTempFiles } from '../io/stale-temp.js';
import { checkDirectionValues } from '../steering/spec.js';
import type { HookSite } from '../graph/hook-points.js';
import type { ModelIdentity, SteeringVector } from '../steering/vector.js';
import { loadVector, saveVector } from '../steering/vector-file.js';
import { HttpError } from './http-error.js';
import type { Store } from './store.js';

/**
 * Named steering vectors for one served model: tensors as `DIR/NAME.safetensors`, metadata
 * rows in the store. Names are a closed alphabet, so a name can never reach outside DIR.
 * A file dropped into DIR by hand is registered at start-up; a row whose file is gone is dropped.
 */

const VECTOR_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/;
const MAX_NAME = 64;

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
  readonly plots: { readonly diagnostics: boolean; readonly strength: boolean };
}

/** Throws a 400 unless `name` is a registry name (letters, digits, `_`, `-`, inner dots; no path). */
export function checkVectorName(name: unknown, param = 'name'): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME || !VECTOR_NAME.test(name)) {
    throw new HttpError(400, `${param} must be 1-${MAX_NAME} letters, digits, "_", "-" or inner dots (no slashes, no ".."), got ${JSON.stringify(name)}`, 'invalid_name', param);
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
    plots: { diagnostics: (m.diagnostics?.length ?? 0) > 0, strength: (m.auto?.strength?.curve.length ?? 0) > 0 },
  };
}

export class VectorRegistry {
  private readonly cache = new Map<string, SteeringVector>();

  constructor(
    readonly dir: string,
    private readonly store: Store,
    private readonly model: ModelIdentity,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.reconcile();
  }

  list(): VectorInfo[] {
    return this.store.listVectors().map((r) => r.info as unknown as VectorInfo);
  }

  info(name: string): VectorInfo {
    const row = this.store.getVector(checkVectorName(name));
    if (!row) throw this.unknown(name);
    return row.info as unknown as VectorInfo;
  }

  has(name: string): boolean {
    return this.store.getVector(name) !== undefined;
  }

  /** The vector itself (loaded once; a spec names it by its registry name). */
  get(name: string): SteeringVector {
    checkVectorName(name, 'vector');
    const cached = this.cache.get(name);
    if (cached) return cached;
    const row = this.store.getVector(name);
    if (!row) throw this.unknown(name);
    const v = loadVector(row.file);
    this.cache.set(name, v);
    return v;
  }

  /** Registers a vector; it must fit the served model. Writes the file atomically, then the row. */
  add(name: string, vector: SteeringVector, overwrite = false): VectorInfo {
    checkVectorName(name);
    if (!overwrite && this.has(name)) throw new HttpError(409, `a vector named "${name}" exists; delete it first or pass "overwrite": true`, 'name_taken', 'name');
    this.checkFits(vector);
    const file = this.fileOf(name);
    saveVector(file, vector);
    return this.register(name, file, vector);
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
    const row = this.store.getVector(name);
    if (!row) throw this.unknown(name);
    this.store.deleteVector(name);
    this.cache.delete(name);
    fs.rmSync(row.file, { force: true });
  }

  private register(name: string, file: string, vector: SteeringVector): VectorInfo {
    const info = vectorInfo(name, vector);
    this.store.putVector(name, file, info as unknown as Record<string, unknown>);
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
    const file = path.resolve(this.dir, `${name}.safetensors`);
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
    for (const row of this.store.listVectors()) if (!fs.existsSync(row.file)) this.store.deleteVector(row.name);
    for (const entry of fs.readdirSync(this.dir)) {
      if (!entry.endsWith('.safetensors')) continue;
      if (entry.startsWith('.upload-')) {
        fs.rmSync(path.join(this.dir, entry), { force: true }); // left by a crash mid-upload
        continue;
      }
      const name = entry.slice(0, -'.safetensors'.length);
      if (!VECTOR_NAME.test(name) || name.length > MAX_NAME || this.has(name)) continue;
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

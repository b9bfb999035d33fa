/**
 * A model directory's weights as one set of tensors: which layout the weights come in (an index,
 * one file, a numbered shard set, loose files) is settled here, so loaders see only tensor names.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import { ModelFileError } from './errors.js';
import { describe, isPlainObject, SafetensorsFile, type SafetensorsEntry } from './safetensors.js';

const SHARD_RE = /^(.*)-(\d+)-of-(\d+)\.safetensors$/;

export class SafetensorsCollection {
  readonly dir: string;
  readonly files: readonly SafetensorsFile[];
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Readonly<Record<string, string>>;
  private readonly byPath: ReadonlyMap<string, SafetensorsFile>;

  private constructor(dir: string, files: SafetensorsFile[], entries: Map<string, SafetensorsEntry>, metadata: Record<string, string>) {
    this.dir = dir;
    this.files = files;
    this.entries = entries;
    this.metadata = Object.freeze(metadata);
    this.byPath = new Map(files.map((f) => [f.path, f]));
  }

  /**
   * Open the weights of a model directory. Precedence: model.safetensors.index.json (sharded),
   * then model.safetensors, then a complete set of NAME-0000i-of-0000N.safetensors shards,
   * then every *.safetensors file in the directory (tensor names must not repeat).
   */
  static openDir(dir: string): SafetensorsCollection {
    let names: string[];
    try {
      if (!statSync(dir).isDirectory()) throw new ModelFileError(dir, 'not a directory');
      names = readdirSync(dir).filter((n) => n.endsWith('.safetensors')).sort();
    } catch (err) {
      if (err instanceof ModelFileError) throw err;
      throw new ModelFileError(dir, `cannot read directory: ${(err as Error).message}`, { cause: err });
    }
    const indexPath = join(dir, 'model.safetensors.index.json');
    if (existsSync(indexPath)) return SafetensorsCollection.openIndexed(dir, indexPath);
    if (names.includes('model.safetensors')) return SafetensorsCollection.openFiles(dir, ['model.safetensors']);
    if (names.length === 0) throw new ModelFileError(dir, 'no .safetensors files found');
    // Without an index, a shard set must be complete: a missing shard would silently drop tensors.
    const groups = new Map<string, { total: number; seen: Set<number> }>();
    for (const n of names) {
      const m = SHARD_RE.exec(n);
      if (!m) continue;
      const key = `${m[1]}-of-${m[3]}`;
      const g = groups.get(key) ?? { total: Number(m[3]), seen: new Set<number>() };
      g.seen.add(Number(m[2]));
      groups.set(key, g);
    }
    for (const [key, g] of groups) {
      for (let i = 1; i <= g.total; i++) {
        if (!g.seen.has(i)) throw new ModelFileError(dir, `shard ${i} of ${g.total} (${key.replace(/-of-\d+$/, '')}) is missing`);
      }
    }
    return SafetensorsCollection.openFiles(dir, names);
  }

  private static openIndexed(dir: string, indexPath: string): SafetensorsCollection {
    let index: unknown;
    try {
      index = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (err) {
      throw new ModelFileError(indexPath, `cannot read index: ${(err as Error).message}`, { cause: err });
    }
    if (!isPlainObject(index) || !isPlainObject(index.weight_map)) throw new ModelFileError(indexPath, 'index has no "weight_map" object');
    const weightMap = index.weight_map as Record<string, unknown>;
    const shardNames: string[] = [];
    const root = resolve(dir);
    for (const [tensor, shard] of Object.entries(weightMap)) {
      if (typeof shard !== 'string' || shard === '') throw new ModelFileError(indexPath, `weight_map entry for ${describe(tensor)} is not a file name`);
      // The index must not point outside the model directory.
      const full = resolve(root, shard);
      if (!full.startsWith(root + sep)) throw new ModelFileError(indexPath, `shard ${describe(shard)} is outside the model directory`);
      if (!shardNames.includes(shard)) shardNames.push(shard);
    }
    if (shardNames.length === 0) throw new ModelFileError(indexPath, 'weight_map is empty');
    for (const s of shardNames) {
      if (!existsSync(join(dir, s))) throw new ModelFileError(indexPath, `shard ${s} named in weight_map is missing`);
    }
    const coll = SafetensorsCollection.openFiles(dir, shardNames);
    try {
      for (const [tensor, shard] of Object.entries(weightMap)) {
        const e = coll.entries.get(tensor);
        const shardPath = join(dir, shard as string);
        if (!e) throw new ModelFileError(indexPath, `tensor ${describe(tensor)} is mapped to ${shard as string} but is not in it`);
        if (e.file !== shardPath) throw new ModelFileError(indexPath, `tensor ${describe(tensor)} is mapped to ${shard as string} but found in ${basename(e.file)}`);
      }
    } catch (err) {
      coll.close();
      throw err;
    }
    return coll;
  }

  private static openFiles(dir: string, names: readonly string[]): SafetensorsCollection {
    const files: SafetensorsFile[] = [];
    try {
      const entries = new Map<string, SafetensorsEntry>();
      const metadata: Record<string, string> = {};
      for (const n of names) {
        const f = SafetensorsFile.open(join(dir, n));
        files.push(f);
        for (const [name, e] of f.entries) {
          const prev = entries.get(name);
          if (prev) throw new ModelFileError(dir, `tensor ${describe(name)} appears in both ${basename(prev.file)} and ${n}`);
          entries.set(name, e);
        }
        Object.assign(metadata, f.metadata);
      }
      return new SafetensorsCollection(dir, files, entries, metadata);
    } catch (err) {
      for (const f of files) f.close();
      throw err;
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  private fileFor(name: string): SafetensorsFile {
    const e = this.entries.get(name);
    if (!e) throw new ModelFileError(this.dir, `no tensor named ${describe(name)}`);
    return this.byPath.get(e.file)!;
  }

  readF32(name: string): Float32Array {
    return this.fileFor(name).readF32(name);
  }

  readRaw(name: string): Buffer {
    return this.fileFor(name).readRaw(name);
  }

  readF32Rows(name: string, start: number, count: number): Float32Array {
    return this.fileFor(name).readF32Rows(name, start, count);
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}

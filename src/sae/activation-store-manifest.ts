/**
 * The on-disk layout of an activation store (activations of one hook point over a corpus, cached
 * for SAE training like SAELens' cached activations or sparsify's): its manifest schema, shard
 * names, and checked reads and atomic writes of the manifest. Shared by the writer
 * (activation-store-writer.ts) and the reader (activation-store.ts).
 *
 * Layout of a store directory:
 *   manifest.json              StoreManifest (rewritten atomically after every shard)
 *   shard-00000.safetensors    acts F32 [rows, dim], tokens/doc/pos I32 [rows]
 *
 * Shards end at document boundaries, so `documentsDone` says exactly where to resume.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod/v4';
import { HOOK_SITES, hookName, type HookPoint } from '../graph/hook-points.js';
import { ModelFileError } from '../io/errors.js';
import { parseJson, readText } from '../io/json-records.js';
import { writeFileAtomic } from '../io/files.js';
import { nonNegativeInt as nonNegInt, positiveInt } from '../util/schemas.js';

export const STORE_FORMAT = 'steerer.activations/v1';
/** The manifest's file name inside a store directory. */
export const MANIFEST = 'manifest.json';

export interface StoreManifest {
  readonly format: typeof STORE_FORMAT;
  readonly model: { readonly name: string; readonly hiddenSize: number; readonly numLayers: number };
  readonly hook: string;
  readonly point: HookPoint;
  readonly dim: number;
  readonly contextSize: number;
  readonly excludeBos: boolean;
  /** Rows stored. */
  readonly rows: number;
  /** Tokens run through the model for those rows (stored rows plus excluded BOS rows). */
  readonly tokens: number;
  /** Documents with index < documentsDone are fully stored. */
  readonly documentsDone: number;
  readonly shards: readonly { readonly file: string; readonly rows: number }[];
  /** The corpus (or the maxTokens budget) is exhausted: resuming does nothing. */
  readonly complete: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}


const ManifestSchema = z.object({
  format: z.literal(STORE_FORMAT),
  model: z.object({ name: z.string(), hiddenSize: positiveInt, numLayers: positiveInt }),
  hook: z.string(),
  point: z.object({ layer: nonNegInt, site: z.enum(HOOK_SITES) }),
  dim: positiveInt,
  contextSize: positiveInt,
  excludeBos: z.boolean(),
  rows: nonNegInt,
  tokens: nonNegInt,
  documentsDone: nonNegInt,
  shards: z.array(z.object({ file: z.string(), rows: nonNegInt })),
  complete: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

// Compile-time guard: whatever the schema accepts is a StoreManifest.
const asManifest = (m: z.infer<typeof ManifestSchema>): StoreManifest => m;

export function shardFileName(i: number): string {
  return `shard-${String(i).padStart(5, '0')}.safetensors`;
}

/** The manifest in `dir`, validated; undefined when there is none. */
export function readManifest(dir: string): StoreManifest | undefined {
  const path = join(dir, MANIFEST);
  if (!fs.existsSync(path)) return undefined;
  const json = parseJson(path, readText(path));
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelFileError(path, `${issue.path.length > 0 ? issue.path.map(String).join('.') : 'manifest'}: ${issue.message}`);
  }
  const m = asManifest(parsed.data);
  const fail = (problem: string): never => { throw new ModelFileError(path, problem); };
  if (m.hook !== hookName(m.point)) fail(`hook ${m.hook} does not match point ${hookName(m.point)}`);
  if (m.dim !== m.model.hiddenSize) fail(`dim ${m.dim} differs from the model's hidden size ${m.model.hiddenSize}`);
  m.shards.forEach((s, i) => {
    if (s.file !== shardFileName(i)) fail(`shard ${i} is named ${JSON.stringify(s.file)}, expected ${shardFileName(i)}`);
  });
  const sum = m.shards.reduce((a, s) => a + s.rows, 0);
  if (sum !== m.rows) fail(`shards hold ${sum} rows but the manifest says ${m.rows}`);
  return m;
}

export function writeManifest(dir: string, m: StoreManifest): void {
  writeFileAtomic(join(dir, MANIFEST), (write) => write(Buffer.from(`${JSON.stringify(m, null, 2)}\n`, 'utf8')));
}

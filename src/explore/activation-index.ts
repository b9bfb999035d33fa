/**
 * An approximate-nearest-neighbour index over the rows of an activation store (one hook point),
 * each row kept with its document, position and token so matches can be shown in context.
 *
 * The graph is USearch's HNSW (cosine, inner product, L2); L1, which USearch lacks, and any
 * exact search run over the store as an ORT brute force (exact-search.ts). Files:
 * index-files.ts.
 *
 * Centring (on by default): residual activations share a large mean component (tinystories-656k,
 * layer 1: the mean row is 233 long against 336 for a typical row, cos(row, mean) averages 0.68),
 * so raw cosines say as much about the shared mean as about the row. Measured on 200,000 rows
 * (bench/index-centering.ts): the 20 rows nearest an SAE feature's decoder direction are rows
 * where that feature fires 93 % of the time by centred cosine, 87 % by raw cosine and 67 % by
 * inner product; for activations as queries both cosines do alike (76 % of the 10 nearest rows
 * share the query's token). A centred index stores row − mean; point queries (an activation of a
 * text) are centred the same way, direction queries (a steering vector, an SAE decoder row) are
 * used as given. Inner-product rankings of a direction are unchanged by centring (the mean adds
 * the same q·μ to every row); cosine and L2 rankings change.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type * as Usearch from 'usearch';
import type { HookPoint } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { ActivationStore } from '../sae/activation-store.js';
import { exactSearch, higherIsNearer, INDEX_METRICS, type IndexMetric, type Neighbours } from './exact-search.js';
import {
  checkFile,
  describeFile,
  GRAPH_FILE,
  INDEX_FORMAT,
  newBuildId,
  QUANTIZATIONS,
  readIndexManifest,
  readRowsFile,
  ROWS_FILE,
  saveAtomicVia,
  writeIndexManifest,
  writeRowsFile,
  type HnswSettings,
  type IndexManifest,
  type IndexQuantization,
  type IndexRows,
} from './index-files.js';
import { matrixRows, storeRows, type RowSource } from './row-source.js';
import { meanRow, subtractRow } from './row-stats.js';
import { defaultThreads } from '../graph/session-options.js';

export interface IndexBuildOptions {
  /** Token strings for token ids (e.g. ids => tokenStrings(model, ids)). */
  readonly decode: (ids: number[]) => string[];
  /** Default 'cosine'. */
  readonly metric?: IndexMetric;
  /** Index row − mean (default true; see the module comment). */
  readonly center?: boolean;
  /** Index only the store's first maxRows rows. */
  readonly maxRows?: number;
  /** HNSW M (default 16). */
  readonly connectivity?: number;
  /** efConstruction (default 128). */
  readonly expansionAdd?: number;
  /** Default ef of searches (default 256: recall@10 0.994 against 0.980 at 128, on a million tinystories-656k rows; bench/activation-index.ts). */
  readonly expansionSearch?: number;
  /** Default 'f32'. */
  readonly quantization?: IndexQuantization;
  /** Threads for the graph and ORT (default all cores). */
  readonly threads?: number;
  /** Rows indexed so far, of `total`. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface IndexSearchOptions {
  /** The k farthest rows: cosine / inner product: the nearest to the negated query; L2 / L1: largest distance (exact search). */
  readonly farthest?: boolean;
  /** Brute force over the store instead of the graph. */
  readonly exact?: boolean;
  /** Take k × rerank graph candidates and keep the k best by exact score from the store (default 1: off). */
  readonly rerank?: number;
  /** Candidates kept while searching the graph (ef; default the index's). */
  readonly expansion?: number;
  readonly threads?: number;
}

/** Bounds on user-given sizes, checked before anything is allocated. */
const MAX_K = 10_000;
const MAX_RERANK = 64;
const MAX_EXPANSION = 1 << 16;
const MAX_CONNECTIVITY = 256;
const CHUNK_ROWS = 1 << 16;

function boundedInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new InvalidInputError(`${name} must be an integer in ${min}..${max}, got ${v}`);
  return v;
}

// USearch's CommonJS build: its ES module finds the native binary from a global __dirname when
// one exists (Node's eval workers define '.'), and then climbs directories forever.
// Loaded on first use, like the server: a program that only runs a model does not pay for it.
const requireHere = createRequire(import.meta.url);
let usearchModule: typeof Usearch | undefined;
const usearch = (): typeof Usearch => (usearchModule ??= requireHere('usearch') as typeof Usearch);
type UsearchIndex = Usearch.Index;

function usearchVersion(): string {
  try {
    const main = requireHere.resolve('usearch');
    const pkg = join(main.slice(0, main.lastIndexOf('/javascript/')), 'package.json');
    return (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function usearchMetric(metric: Exclude<IndexMetric, 'l1'>): Usearch.MetricKind {
  const { MetricKind } = usearch();
  return metric === 'cosine' ? MetricKind.Cos : metric === 'ip' ? MetricKind.IP : MetricKind.L2sq;
}

function newGraph(dim: number, metric: Exclude<IndexMetric, 'l1'>, h: HnswSettings, expansionSearch = h.expansionSearch): UsearchIndex {
  const { Index, ScalarKind } = usearch();
  return new Index({
    dimensions: dim,
    metric: usearchMetric(metric),
    quantization: h.quantization === 'f16' ? ScalarKind.F16 : ScalarKind.F32,
    connectivity: h.connectivity,
    expansion_add: h.expansionAdd,
    expansion_search: expansionSearch,
    multi: false,
  });
}

/** USearch distance → Steerer score (cosine similarity, inner product, Euclidean distance). */
function scoreOf(metric: IndexMetric, distance: number): number {
  if (metric === 'l2') return Math.sqrt(Math.max(0, distance));
  return 1 - distance;
}

/** doc / pos / token of the store's first `rows` rows, straight from the shards (no activations read). */
function readRowMeta(store: ActivationStore, rows: number): { doc: Int32Array; pos: Int32Array; token: Int32Array } {
  const doc = new Int32Array(rows);
  const pos = new Int32Array(rows);
  const token = new Int32Array(rows);
  let at = 0;
  for (let i = 0; i < store.shardCount && at < rows; i++) {
    const f = SafetensorsFile.open(join(store.dir, store.manifest.shards[i].file));
    try {
      const n = Math.min(store.manifest.shards[i].rows, rows - at);
      doc.set(f.readI32('doc').subarray(0, n), at);
      pos.set(f.readI32('pos').subarray(0, n), at);
      token.set(f.readI32('tokens').subarray(0, n), at);
      at += n;
    } finally {
      f.close();
    }
  }
  return { doc, pos, token };
}

export class ActivationIndex {
  private storeSource: RowSource | undefined;

  private constructor(
    readonly dir: string,
    readonly manifest: IndexManifest,
    readonly rows: IndexRows,
    private readonly graph: UsearchIndex | undefined,
  ) {}

  get metric(): IndexMetric {
    return this.manifest.metric;
  }

  get dim(): number {
    return this.manifest.dim;
  }

  get size(): number {
    return this.manifest.rows;
  }

  get point(): HookPoint {
    return this.manifest.point;
  }

  /** Opens an index, checking every file against the manifest first (hashes too unless verify is false). */
  static open(dir: string, opts: { verify?: boolean; expansion?: number } = {}): ActivationIndex {
    const m = readIndexManifest(dir);
    const verify = opts.verify ?? true;
    checkFile(dir, m.files.rows, verify);
    if (m.files.graph) checkFile(dir, m.files.graph, verify);
    const rows = readRowsFile(dir, m);
    let graph: UsearchIndex | undefined;
    if (m.hnsw && m.metric !== 'l1') {
      const ef = opts.expansion === undefined ? m.hnsw.expansionSearch : boundedInt('expansion', opts.expansion, 1, MAX_EXPANSION);
      graph = newGraph(m.dim, m.metric, m.hnsw, ef);
      // Memory-mapped: opening costs nothing and only the pages a search touches are read.
      graph.view(join(dir, GRAPH_FILE));
      if (graph.size() !== m.rows || graph.dimensions() !== m.dim) {
        throw new InvalidInputError(`${join(dir, GRAPH_FILE)} holds ${graph.size()} rows of ${graph.dimensions()} values, the manifest ${m.rows} of ${m.dim}`);
      }
    }
    return new ActivationIndex(dir, m, rows, graph);
  }

  /** The source store's rows (for exact search and re-ranking); a clear error when the store is gone or changed. */
  storeRows(): RowSource {
    if (!this.storeSource) {
      const dir = resolve(this.dir, this.manifest.store);
      let store: ActivationStore;
      try {
        store = ActivationStore.open(dir);
      } catch (e) {
        throw new InvalidInputError(`exact search reads the index's activation store ${dir}, which cannot be opened: ${(e as Error).message}`);
      }
      if (store.manifest.hook !== this.manifest.hook || store.dim !== this.dim || store.rows < this.size) {
        throw new InvalidInputError(`the activation store ${dir} no longer holds the ${this.size} ${this.manifest.hook} rows this index was built from`);
      }
      this.storeSource = storeRows(store, this.size);
    }
    return this.storeSource;
  }

  /**
   * The k nearest (or farthest) rows to each query ([queries, dim], already in the index's
   * space: centred if it is a point of a centred index).
   */
  async searchVectors(queries: Float32Array, k: number, opts: IndexSearchOptions = {}): Promise<Neighbours> {
    boundedInt('k', k, 1, MAX_K);
    const rerank = boundedInt('rerank', opts.rerank ?? 1, 1, MAX_RERANK);
    const threads = opts.threads ?? defaultThreads();
    const center = this.manifest.centered ? this.rows.mean : undefined;
    const { metric } = this;
    const farthestNeedsExact = opts.farthest === true && !higherIsNearer(metric);
    if (opts.exact || !this.graph || farthestNeedsExact) {
      return exactSearch(this.storeRows(), queries, { metric, k: Math.min(k, this.size), farthest: opts.farthest, center, threads });
    }
    if (queries.length === 0 || queries.length % this.dim !== 0) throw new InvalidInputError(`queries hold ${queries.length} values, not a whole number of ${this.dim}-wide rows`);
    if (queries.some((v) => !Number.isFinite(v))) throw new InvalidInputError('a query holds a non-finite value');
    const nq = queries.length / this.dim;
    const graph = opts.expansion === undefined ? this.graph : this.withExpansion(opts.expansion);
    // Farthest under cosine / inner product = nearest to the negated query.
    const q = opts.farthest ? queries.map((v) => -v) : queries;
    const want = Math.min(this.size, k * rerank);
    const rows = new Int32Array(nq * want).fill(-1);
    const scores = new Float32Array(nq * want).fill(NaN);
    for (let i = 0; i < nq; i++) {
      const m = graph.search(q.subarray(i * this.dim, (i + 1) * this.dim), want, threads);
      m.keys.forEach((key, j) => {
        rows[i * want + j] = Number(key);
        scores[i * want + j] = (opts.farthest ? -1 : 1) * scoreOf(metric, m.distances[j]);
      });
    }
    const found: Neighbours = { queries: nq, k: want, rows, scores };
    return rerank > 1 ? this.rerank(queries, found, Math.min(k, this.size), opts.farthest ?? false, threads) : found;
  }

  private withExpansion(expansion: number): UsearchIndex {
    const g = newGraph(this.dim, this.metric as Exclude<IndexMetric, 'l1'>, this.manifest.hnsw!, boundedInt('expansion', expansion, 1, MAX_EXPANSION));
    g.view(join(this.dir, GRAPH_FILE));
    return g;
  }

  /** Exact scores of each query's candidates, read from the store; the best k kept. */
  private async rerank(queries: Float32Array, found: Neighbours, k: number, farthest: boolean, threads: number): Promise<Neighbours> {
    const rows = new Int32Array(found.queries * k).fill(-1);
    const scores = new Float32Array(found.queries * k).fill(NaN);
    const center = this.manifest.centered ? this.rows.mean : undefined;
    for (let i = 0; i < found.queries; i++) {
      const cand = Array.from(found.rows.subarray(i * found.k, (i + 1) * found.k)).filter((r) => r >= 0);
      if (cand.length === 0) continue;
      const exact = await exactSearch(matrixRows(this.storeRows().readRows(cand), this.dim), queries.subarray(i * this.dim, (i + 1) * this.dim), {
        metric: this.metric,
        k: Math.min(k, cand.length),
        farthest,
        center,
        threads,
      });
      exact.rows.forEach((r, j) => {
        if (r < 0) return;
        rows[i * k + j] = cand[r];
        scores[i * k + j] = exact.scores[j];
      });
    }
    return { queries: found.queries, k, rows, scores };
  }
}

/**
 * Builds an index over the store's rows (or its first maxRows) into `dir` (created if need
 * be; an index already there is replaced file by file, the manifest last).
 */
export async function buildActivationIndex(store: ActivationStore, dir: string, opts: IndexBuildOptions): Promise<ActivationIndex> {
  const started = performance.now();
  const metric = opts.metric ?? 'cosine';
  if (!(INDEX_METRICS as readonly string[]).includes(metric)) throw new InvalidInputError(`metric must be one of ${INDEX_METRICS.join(', ')}, got ${String(metric)}`);
  const quantization = opts.quantization ?? 'f32';
  if (!(QUANTIZATIONS as readonly string[]).includes(quantization)) throw new InvalidInputError(`quantization must be one of ${QUANTIZATIONS.join(', ')}, got ${String(quantization)}`);
  const hnsw: HnswSettings = {
    connectivity: boundedInt('connectivity', opts.connectivity ?? 16, 2, MAX_CONNECTIVITY),
    expansionAdd: boundedInt('expansionAdd', opts.expansionAdd ?? 128, 1, MAX_EXPANSION),
    expansionSearch: boundedInt('expansionSearch', opts.expansionSearch ?? 256, 1, MAX_EXPANSION),
    quantization,
  };
  const rows = opts.maxRows === undefined ? store.rows : Math.min(store.rows, boundedInt('maxRows', opts.maxRows, 1, 2 ** 31 - 1));
  if (rows === 0) throw new InvalidInputError(`the store in ${store.dir} has no rows`);
  const threads = opts.threads ?? defaultThreads();
  const center = opts.center ?? true;
  const source = storeRows(store, rows);
  const total = metric === 'l1' ? rows : 2 * rows;
  let done = 0;
  const progress = (n: number): void => {
    done += n;
    opts.onProgress?.(done, total);
  };

  const mean = await meanRow(source, { threads, onChunk: progress });
  const meta = readRowMeta(store, rows);
  const distinct = [...new Set(meta.token)].sort((a, b) => a - b);
  const texts = opts.decode(distinct);
  if (!Array.isArray(texts) || texts.length !== distinct.length) throw new InvalidInputError(`decode returned ${Array.isArray(texts) ? texts.length : 'no'} token strings for ${distinct.length} ids`);
  const tokenText = new Map(distinct.map((id, i) => [id, texts[i]]));

  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new InvalidInputError(`cannot use ${dir} as an index folder: ${(e as Error).message}`);
  }
  const buildId = newBuildId();
  let graphEntry: IndexManifest['files']['graph'];
  if (metric !== 'l1') {
    const graph = newGraph(store.dim, metric, hnsw);
    for await (const c of source.chunks(CHUNK_ROWS)) {
      const n = c.data.length / store.dim;
      const keys = new BigUint64Array(n);
      for (let i = 0; i < n; i++) keys[i] = BigInt(c.start + i);
      graph.add(keys, center ? await subtractRow(c.data, mean, threads) : c.data, threads);
      progress(n);
    }
    saveAtomicVia(join(dir, GRAPH_FILE), (tmp) => graph.save(tmp));
    graphEntry = describeFile(join(dir, GRAPH_FILE));
  }
  writeRowsFile(join(dir, ROWS_FILE), { ...meta, mean, tokenText }, buildId);
  const manifest: IndexManifest = {
    format: INDEX_FORMAT,
    library: { name: 'usearch', version: usearchVersion() },
    metric,
    centered: center,
    dim: store.dim,
    rows,
    hook: store.manifest.hook,
    point: store.manifest.point,
    model: store.manifest.model,
    store: relative(resolve(dir), resolve(store.dir)) || '.',
    hnsw: metric === 'l1' ? undefined : hnsw,
    files: { graph: graphEntry, rows: describeFile(join(dir, ROWS_FILE)) },
    buildId,
    buildSeconds: Math.round((performance.now() - started) / 10) / 100,
    createdAt: new Date().toISOString(),
  };
  writeIndexManifest(dir, manifest);
  return ActivationIndex.open(dir, { verify: false });
}

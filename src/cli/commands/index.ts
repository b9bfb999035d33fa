import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { parseHookName } from '../../graph/hook-points.js';
import { InvalidInputError } from '../../io/errors.js';
import { writeFileAtomic } from '../../io/files.js';
import { ActivationIndex, buildActivationIndex } from '../../explore/activation-index.js';
import { INDEX_METRICS, type IndexMetric } from '../../explore/exact-search.js';
import { QUANTIZATIONS, type IndexQuantization } from '../../explore/index-files.js';
import { featureQuery, parseFeatureRef, textQuery, vectorQuery, type IndexQuery, type TextPosition } from '../../explore/index-query.js';
import { searchIndex } from '../../explore/index-search.js';
import { renderSearchHtml, renderSearchText } from '../../explore/search-render.js';
import { ActivationStore } from '../../sae/activation-store.js';
import { collectActivationStore } from '../../sae/activation-store-writer.js';
import { readCorpus } from '../../sae/corpus.js';
import { tokenStrings } from '../../sae/feature-activations.js';
import { jsonOption, modelOption, openFromOptions, parseIntStrict, progressBar, runAction, threadsOption } from '../common.js';

interface BuildFlags {
  model: string;
  threads?: string;
  out: string;
  store?: string;
  corpus?: string;
  hook?: string;
  field: string;
  context: string;
  maxRows?: string;
  metric: IndexMetric;
  center: boolean;
  connectivity: string;
  expansion: string;
  quantization: IndexQuantization;
  json?: boolean;
}

function buildCommand(): Command {
  return new Command('build')
    .description('an approximate-nearest-neighbour index over the rows of an activation store (or of a corpus, collected first into OUT/store)')
    .addOption(modelOption)
    .requiredOption('-o, --out <dir>', 'index folder')
    .option('--store <dir>', 'activation store from `steerer sae collect`')
    .option('--corpus <path>', 'instead of a store: a text file (paragraphs), JSONL or folder, collected into OUT/store first (resumable)')
    .option('--hook <name>', 'with --corpus: hook point, e.g. blocks.1.hook_resid_post')
    .option('--field <name>', 'with --corpus: JSONL field holding the text', 'text')
    .addOption(new Option('-c, --context <n>', 'with --corpus: tokens per context (BOS included)').default('128'))
    .option('--max-rows <n>', 'index at most this many rows (with --corpus: collect at most this many)')
    .addOption(new Option('--metric <name>', 'cosine, ip (inner product), l2, or l1 (searched exactly: the graph library has no L1)').choices(INDEX_METRICS).default('cosine'))
    .option('--no-center', 'index the rows as they are, not minus their mean (the mean dominates raw cosines)')
    .option('--connectivity <n>', 'HNSW neighbours per node (M)', '16')
    .option('--expansion <n>', 'default candidates kept per search (ef); higher is slower and more exact', '256')
    .addOption(new Option('--quantization <type>', 'vectors in the graph: f32, or f16 (half the memory)').choices(QUANTIZATIONS).default('f32'))
    .addOption(threadsOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: BuildFlags) => {
        if ((flags.store === undefined) === (flags.corpus === undefined)) throw new InvalidInputError('give exactly one of --store or --corpus');
        const model = openFromOptions(flags);
        const maxRows = flags.maxRows === undefined ? undefined : parseIntStrict(flags.maxRows, '--max-rows', 1);
        let storeDir = flags.store;
        if (flags.corpus !== undefined) {
          if (!flags.hook) throw new InvalidInputError('--corpus needs --hook (e.g. blocks.1.hook_resid_post)');
          storeDir = path.join(flags.out, 'store');
          const bar = progressBar('collecting', maxRows ?? 0, flags.json || maxRows === undefined);
          await collectActivationStore(model, readCorpus(flags.corpus, { field: flags.field }), {
            dir: storeDir,
            point: parseHookName(flags.hook, model.spec.numLayers),
            contextSize: parseIntStrict(flags.context, '--context', 2),
            maxTokens: maxRows,
            onProgress: (rows) => bar.update(rows),
          });
          bar.stop();
        }
        const store = ActivationStore.open(storeDir!);
        if (store.manifest.model.hiddenSize !== model.spec.hiddenSize) throw new InvalidInputError(`the store holds ${store.dim}-wide rows but the model's hidden size is ${model.spec.hiddenSize}`);
        // Two passes over the rows (their mean, then the graph); L1 has no graph.
        const rows = Math.min(store.rows, maxRows ?? Infinity);
        const bar = progressBar('indexing', flags.metric === 'l1' ? rows : 2 * rows, flags.json);
        const index = await buildActivationIndex(store, flags.out, {
          decode: (ids) => tokenStrings(model, ids),
          metric: flags.metric,
          center: flags.center,
          maxRows,
          connectivity: parseIntStrict(flags.connectivity, '--connectivity', 2),
          expansionSearch: parseIntStrict(flags.expansion, '--expansion', 1),
          quantization: flags.quantization,
          threads: model.threads,
          onProgress: (d) => bar.update(d),
        });
        bar.stop();
        const m = index.manifest;
        const summary = { index: flags.out, rows: m.rows, hook: m.hook, metric: m.metric, centered: m.centered, seconds: m.buildSeconds };
        if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stdout.write(`indexed ${m.rows.toLocaleString('en')} rows of ${m.hook} (${m.metric}${m.centered ? ', centred' : ''}) in ${m.buildSeconds.toFixed(1)} s → ${flags.out}\n`);
      }),
    );
}

interface SearchFlags {
  model?: string;
  threads?: string;
  vector?: string;
  layer?: string;
  text?: string;
  positions: string;
  feature?: string;
  top: string;
  farthest?: boolean;
  exact?: boolean;
  rerank: string;
  expansion?: string;
  around: string;
  html?: string;
  json?: boolean;
}

function parsePosition(v: string): TextPosition {
  if (v === 'last' || v === 'mean') return v;
  if (!/^-?\d+$/.test(v)) throw new InvalidInputError(`--positions takes last, mean or a token index, got "${v}"`);
  return Number(v);
}

async function queryFrom(index: ActivationIndex, flags: SearchFlags): Promise<IndexQuery> {
  const given = [flags.vector, flags.text, flags.feature].filter((x) => x !== undefined).length;
  if (given !== 1) throw new InvalidInputError('give exactly one of --vector, --text or --feature');
  if (flags.vector !== undefined) return vectorQuery(index, flags.vector, flags.layer === undefined ? undefined : parseIntStrict(flags.layer, '--layer'));
  if (flags.layer !== undefined) throw new InvalidInputError('--layer goes with --vector');
  if (flags.feature !== undefined) {
    const { sae, feature } = parseFeatureRef(flags.feature);
    return featureQuery(index, sae, feature);
  }
  if (!flags.model) throw new InvalidInputError('--text needs --model: the text is run through it');
  return textQuery(index, openFromOptions({ model: flags.model, threads: flags.threads }), flags.text!, parsePosition(flags.positions));
}

function searchCommand(): Command {
  return new Command('search')
    .description('the rows of an index nearest to a steering vector, an SAE feature or a text\'s activation, shown in context')
    .argument('<index>', 'index folder from `steerer index build`')
    .option('--vector <file>', 'a steering vector: its direction at the index\'s layer (or --layer)')
    .option('--layer <n>', 'with --vector: the vector\'s layer to use')
    .option('--text <text>', 'a text: its activation at the index\'s hook point (needs --model)')
    .option('--positions <which>', 'with --text: last, mean, or a token index (0 = BOS when the model adds one)', 'last')
    .option('--feature <sae:n>', 'an SAE feature\'s decoder direction, as SAE_FILE:FEATURE')
    .option('-m, --model <path>', 'with --text: the model the index was built on')
    .option('--top <n>', 'rows to show', '10')
    .option('--farthest', 'the farthest rows instead (cosine / ip: the nearest to the negated query)')
    .option('--exact', 'brute force over the activation store instead of the graph')
    .option('--rerank <n>', 'take N × top graph candidates and keep the best by exact score (reads the store)', '1')
    .option('--expansion <n>', 'candidates kept while searching (ef; default: the index\'s)')
    .option('--around <n>', 'tokens shown before the match (a third as many after)', '12')
    .option('--html <file>', 'also write the results as an HTML page')
    .addOption(threadsOption)
    .addOption(jsonOption)
    .action(
      runAction(async (dir: string, flags: SearchFlags) => {
        const index = ActivationIndex.open(dir, { expansion: flags.expansion === undefined ? undefined : parseIntStrict(flags.expansion, '--expansion', 1) });
        const query = await queryFrom(index, flags);
        const around = parseIntStrict(flags.around, '--around');
        const result = await searchIndex(index, query.vector, parseIntStrict(flags.top, '--top', 1), {
          kind: query.kind,
          farthest: flags.farthest,
          exact: flags.exact,
          rerank: parseIntStrict(flags.rerank, '--rerank', 1),
          window: { left: around, right: Math.ceil(around / 3) },
          threads: flags.threads === undefined ? undefined : parseIntStrict(flags.threads, '--threads', 1),
        });
        if (flags.html) {
          fs.mkdirSync(path.dirname(path.resolve(flags.html)), { recursive: true });
          const html = new TextEncoder().encode(renderSearchHtml(`Index ${dir}: ${query.label}`, [{ heading: `${result.farthest ? 'Farthest from' : 'Nearest to'} ${query.label}`, result }]));
          writeFileAtomic(flags.html, (w) => w(html));
        }
        if (flags.json) process.stdout.write(`${JSON.stringify({ index: dir, query: query.label, ...result })}\n`);
        else process.stdout.write(renderSearchText(result, query.label));
      }),
    );
}

function infoCommand(): Command {
  return new Command('info')
    .description('what an index holds, with every file checked against its manifest (sizes and SHA-256)')
    .argument('<index>', 'index folder')
    .addOption(jsonOption)
    .action(
      runAction(async (dir: string, flags: { json?: boolean }) => {
        const index = ActivationIndex.open(dir, { verify: true });
        const m = index.manifest;
        const storeDir = path.resolve(dir, m.store);
        const storeThere = fs.existsSync(path.join(storeDir, 'manifest.json'));
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ ...m, storePath: storeDir, storePresent: storeThere, verified: true })}\n`);
          return;
        }
        const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
        const files = [m.files.graph, m.files.rows].filter((f) => f !== undefined).map((f) => `${f.name} ${mib(f.bytes)}`);
        const lines = [
          `index ${dir}: ${m.rows.toLocaleString('en')} rows of ${m.hook} (${m.dim} wide) from ${m.model.name}`,
          `metric ${m.metric}${m.centered ? ', rows centred (minus their mean)' : ''}`,
          m.hnsw
            ? `graph: ${m.library.name} ${m.library.version} HNSW, M ${m.hnsw.connectivity}, efConstruction ${m.hnsw.expansionAdd}, ef ${m.hnsw.expansionSearch}, ${m.hnsw.quantization}`
            : 'no graph: every search is exact (brute force over the store)',
          `files: ${files.join(', ')} (sizes and SHA-256 verified)`,
          `store: ${storeDir}${storeThere ? '' : ' (missing: exact search and re-ranking unavailable)'}`,
          `built ${m.createdAt} in ${m.buildSeconds.toFixed(1)} s`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}

export function indexCommand(): Command {
  const cmd = new Command('index').description('approximate-nearest-neighbour search over stored activations: build, search, info');
  cmd.addCommand(buildCommand());
  cmd.addCommand(searchCommand());
  cmd.addCommand(infoCommand());
  return cmd;
}

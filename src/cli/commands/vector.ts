import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { conditionCommand } from './vector-condition.js';
import { HOOK_SITES, type HookSite } from '../../graph/hook-points.js';
import { InvalidInputError } from '../../io/errors.js';
import { diagnosticsSeries, diagnosticsSvg } from '../../report/vector-plots.js';
import { readContrastFile, readSetFiles } from '../../steering/contrast-files.js';
import { extractVector } from '../../steering/extract.js';
import { steeringSpecJsonSchema } from '../../steering/spec.js';
import type { ExtractionMethod, ReadPosition, SteeringVector } from '../../steering/vector.js';
import { exportControlVectorGguf, loadVector, saveVector } from '../../steering/vector-file.js';
import { combineWeighted, cosineMatrix, normalizeVector } from '../../steering/vector-math.js';
import { addConceptOptions, createFromConcept, type ConceptFlags } from './vector-concept.js';
import { diagnosticsTable } from '../vector-table.js';
import { jsonOption, modelOption, openFromOptions, parseIntStrict, parseLayers, parseNumber, progressBar, runAction, deviceOption, threadsOption, withFileFlags } from '../common.js';
import { oldSpelling } from '../flag-aliases.js';
import { splitFileNumber } from '../../steering/shorthand.js';
import { modelMismatch } from '../../steering/model-match.js';
import { modelShape } from '../../steering/resolve.js';
import { ActivationIndex } from '../../explore/activation-index.js';
import { explainVector, type VectorExplanation } from '../../explore/explain-vector.js';
import { checkIndexModel } from '../../explore/index-query.js';
import { explanationHtml } from '../../report/explain-report.js';
import { writeTextFile } from '../explore-flags.js';
import { explanationText, readLibrary } from '../explain-text.js';
import { packCommand, unpackCommand } from './vector-bundle.js';

interface CreateFlags {
  model: string;
  threads?: string;
  device?: string;
  out: string;
  pairs?: string;
  positive?: string;
  negative?: string;
  method: ExtractionMethod;
  layers: string;
  site: HookSite;
  positions?: ReadPosition;
  chat?: boolean;
  validation: string;
  seed: string;
  batchSize: string;
  description?: string;
  json?: boolean;
  concept?: string;
}

const positionsOption = new Option('--positions <mode>', "token positions read per example (default: 'answer' for CAA, else 'last'); 'all' = every completion token (diffmean, probe)").choices(['last', 'mean', 'answer', 'all']);

function createCommand(): Command {
  const cmd = new Command('create')
    .description('extract a steering vector from contrastive data (all layers in one batched sweep)')
    .addOption(modelOption)
    .requiredOption('-o, --out <file>', 'output vector file (.safetensors)')
    .option('--pairs <file>', 'JSON/JSONL of {positive, negative}, {prompt, positive, negative}, or CAA A/B items')
    .option('--positive <file>', 'positive set (one text per line or a JSON array), with --negative')
    .option('--negative <file>', 'neutral/negative set, with --positive')
    .addOption(new Option('--method <method>', 'extraction method').choices(['diffmean', 'pca_diff', 'pca_center', 'probe']).default('diffmean'))
    .option('--layers <layers>', 'layers: N, N-M, comma list or "all"', 'all')
    .addOption(new Option('--site <site>', 'hook site').choices([...HOOK_SITES]).default('resid_post'))
    .addOption(positionsOption)
    .addOption(oldSpelling('--read', positionsOption))
    .option('--chat', "wrap texts with the model's chat template")
    .option('--validation <fraction>', 'share of pairs held out for diagnostics', '0.2')
    .option('--seed <n>', 'seed of the train/validation split', '0')
    .option('--batch-size <n>', 'sequences per forward', '16')
    .option('--description <text>', 'stored in the vector metadata')
    .option('--concept <text>', 'one click: make the data for a concept ("sad", "cat", "talks about weddings") and choose layer and strength')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption);
  addConceptOptions(cmd);
  return cmd.action(
      runAction(async (flags: CreateFlags & ConceptFlags) => {
        if (flags.concept !== undefined) {
          if (flags.pairs || flags.positive || flags.negative) throw new InvalidInputError('--concept makes its own data: leave out --pairs/--positive/--negative');
          await createFromConcept(flags);
          return;
        }
        if (!flags.pairs === !(flags.positive && flags.negative)) throw new InvalidInputError('give either --pairs FILE or --positive FILE --negative FILE, or --concept TEXT');
        const model = openFromOptions(flags);
        const opts = { chat: flags.chat, tooLong: 'skip' as const };
        const dataset = withFileFlags([['--pairs', flags.pairs], ['--positive', flags.positive], ['--negative', flags.negative]], () =>
          flags.pairs ? readContrastFile(model, flags.pairs, opts) : readSetFiles(model, flags.positive!, flags.negative!, opts),
        );
        const bar = progressBar('activations', 2 * dataset.pairs.length, flags.json);
        const vector = await extractVector(model, dataset, {
          method: flags.method,
          layers: parseLayers(flags.layers, model.spec.numLayers),
          site: flags.site,
          read: flags.positions ?? dataset.suggestedRead ?? 'last',
          validationFraction: parseNumber(flags.validation, '--validation'),
          seed: parseIntStrict(flags.seed, '--seed'),
          batchSize: parseIntStrict(flags.batchSize, '--batch-size', 1),
          description: flags.description,
          onProgress: (done) => bar.update(done),
        });
        bar.stop();
        saveVector(flags.out, vector);
        if (flags.json) process.stdout.write(`${JSON.stringify({ out: flags.out, pairs: dataset.pairs.length, skipped: dataset.skipped?.length ?? 0, meta: vector.meta })}\n`);
        else {
          process.stdout.write(`wrote ${flags.out}: ${flags.method} over ${dataset.pairs.length} pairs${dataset.skipped?.length ? ` (${dataset.skipped.length} too long, skipped)` : ''}\n`);
          process.stdout.write(diagnosticsTable(vector));
        }
        await model.dispose();
      }),
    );
}


interface InfoFlags {
  svg?: string;
  json?: boolean;
  explain?: boolean;
  model?: string;
  threads?: string;
  device?: string;
  index?: string;
  library?: string[];
  top: string;
  html?: string;
}

function infoCommand(): Command {
  return new Command('info')
    .description('metadata and per-layer diagnostics of a vector (table, optional SVG plot); --explain: what it means')
    .argument('<file>', 'vector file (.safetensors or control-vector .gguf)')
    .option('--svg <file>', 'write a plot of the per-layer diagnostics')
    .addOption(jsonOption)
    .option('--explain', 'what the vector means: tokens it promotes and suppresses per layer (logit lens; needs -m), contexts nearest and farthest (--index), similar vectors (--library)')
    .addOption(new Option('-m, --model <path>', 'with --explain: the model the vector was made on'))
    .option('--index <dir>', 'with --explain: an activation index (steerer index build) to search for the nearest and farthest contexts')
    .option('--library <paths...>', 'with --explain: vector files or folders of them to compare with')
    .option('--top <n>', 'with --explain: tokens and contexts per side', '8')
    .option('--html <file>', 'with --explain: write the explanation as an HTML page')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .action(
      runAction(async (file: string, flags: InfoFlags) => {
        const v = loadVector(file);
        const layers = [...v.directions.keys()].sort((a, b) => a - b);
        const norms = layers.map((l) => Math.hypot(...v.directions.get(l)!));
        const explanation = await explainFromFlags(file, v, flags);
        if (flags.svg) {
          const series = diagnosticsSeries(v.meta.diagnostics ?? []);
          if (series.length === 0) series.push({ name: '|v|', points: layers.map((l, i) => [l, norms[i]] as const) });
          const svg = await diagnosticsSvg(`${file}: separation by layer`, series);
          fs.writeFileSync(flags.svg, svg);
        }
        if (explanation && flags.html) writeTextFile(flags.html, explanationHtml(`What ${path.basename(file)} means`, explanation));
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ meta: v.meta, layers, norms, hasMeans: (v.means?.size ?? 0) > 0, ...(explanation ? { explanation } : {}) }, null, 2)}\n`);
          return;
        }
        const m = v.meta;
        process.stdout.write(
          [
            `${file}`,
            `model        ${m.model.name} (${m.model.architecture}, hidden ${m.model.hiddenSize}, ${m.model.numLayers} layers)`,
            `method       ${m.method}${m.readPosition ? `, read ${m.readPosition}` : ''}, site ${m.site}`,
            ...(m.dataset ? [`data         ${m.dataset.source} (${m.dataset.size} ${m.condition ? 'prompts' : 'pairs'}, sha256 ${m.dataset.hash.slice(0, 12)})`] : []),
            ...(m.description ? [`description  ${m.description}`] : []),
            `layers       ${layers.join(', ')}`,
            `norms        ${norms.map((n) => n.toFixed(3)).join(', ')}`,
            ...(m.condition ? [conditionLine(m.condition)] : []),
            '',
          ].join('\n'),
        );
        process.stdout.write(diagnosticsTable(v));
        if (explanation) process.stdout.write(explanationText(explanation));
        if (flags.svg) process.stdout.write(`plot written to ${flags.svg}\n`);
        if (explanation && flags.html) process.stdout.write(`explanation written to ${flags.html}\n`);
      }),
    );
}

/** The --explain reading, or undefined without --explain (whose companion flags then are errors). */
async function explainFromFlags(file: string, v: SteeringVector, flags: InfoFlags): Promise<VectorExplanation | undefined> {
  if (!flags.explain) {
    const stray = (['model', 'index', 'library', 'html'] as const).find((k) => flags[k] !== undefined);
    if (stray) throw new InvalidInputError(`--${stray} goes with --explain`);
    return undefined;
  }
  if (flags.model === undefined) throw new InvalidInputError('--explain needs the model the vector was made on (-m, --model)');
  const top = parseIntStrict(flags.top, '--top', 1);
  if (top > MAX_EXPLAIN_TOP) throw new InvalidInputError(`--top must be at most ${MAX_EXPLAIN_TOP}, got ${top}`);
  const library = flags.library ? readLibrary(flags.library) : undefined;
  const index = flags.index === undefined ? undefined : ActivationIndex.open(flags.index);
  const model = openFromOptions({ model: flags.model, threads: flags.threads, device: flags.device });
  try {
    // Read through another model's unembedding, a direction means nothing.
    const mismatch = modelMismatch(file, v.meta.model, modelShape(model));
    if (mismatch) throw new InvalidInputError(mismatch);
    if (index) checkIndexModel(index, model);
    return await explainVector(model, v, { tokens: top, contexts: top, similar: top, name: file, ...(index ? { index } : {}), ...(library ? { library } : {}) });
  } finally {
    await model.dispose();
  }
}

/** Tokens, contexts and library vectors per side at most: a page, not a dump. */
const MAX_EXPLAIN_TOP = 100;

function exportCommand(): Command {
  return new Command('export')
    .description("convert a vector: GGUF control vector (llama.cpp's --control-vector) or native safetensors")
    .argument('<file>', 'vector file')
    .addOption(new Option('--format <format>', 'output format').choices(['gguf', 'safetensors']).makeOptionMandatory())
    .requiredOption('-o, --out <file>', 'output file')
    .option('--model-hint <arch>', "GGUF controlvector.model_hint (default: the vector's architecture)")
    .option('--drop-layer0', 'GGUF cannot hold layer 0 (llama.cpp rejects it): leave it out')
    .action(
      runAction(async (file: string, flags: { format: 'gguf' | 'safetensors'; out: string; modelHint?: string; dropLayer0?: boolean }) => {
        const v = loadVector(file);
        if (flags.format === 'gguf') exportControlVectorGguf(flags.out, v, flags.modelHint ?? v.meta.model.architecture, { dropLayer0: flags.dropLayer0 });
        else saveVector(flags.out, v);
        process.stdout.write(`wrote ${flags.out}\n`);
      }),
    );
}

function combineCommand(): Command {
  return new Command('combine')
    .description('weighted sum of vectors: FILE[:weight] ... (e.g. happy.safetensors:1 sad.safetensors:-1)')
    .argument('<vectors...>', 'FILE[:weight] terms')
    .requiredOption('-o, --out <file>', 'output vector file')
    .addOption(new Option('--normalize <target>', 'rescale each layer to unit norm ("unit") or to a given norm'))
    .action(
      runAction(async (terms: string[], flags: { out: string; normalize?: string }) => {
        const pairs = terms.map((t) => {
          const { file, number } = splitFileNumber(t);
          return { vector: loadVector(file), weight: number === undefined ? 1 : parseNumber(number, `weight of ${file}`) };
        });
        let v = combineWeighted(pairs);
        if (flags.normalize) v = normalizeVector(v, flags.normalize === 'unit' ? 'unit' : parseNumber(flags.normalize, '--normalize'));
        saveVector(flags.out, v);
        process.stdout.write(`wrote ${flags.out}\n`);
      }),
    );
}

function compareCommand(): Command {
  return new Command('compare')
    .description('cosine similarity matrix between vectors at one layer')
    .argument('<vectors...>', 'vector files')
    .requiredOption('-l, --layer <n>', 'layer')
    .addOption(jsonOption)
    .action(
      runAction(async (files: string[], flags: { layer: string; json?: boolean }) => {
        const vectors = files.map((f) => loadVector(f));
        const matrix = cosineMatrix(vectors, parseIntStrict(flags.layer, '--layer'));
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ files, matrix })}\n`);
          return;
        }
        const names = files.map((_, i) => `[${i}]`);
        process.stdout.write(`${files.map((f, i) => `${names[i]} ${f}`).join('\n')}\n\n`);
        process.stdout.write(`      ${names.map((n) => n.padStart(7)).join('')}\n`);
        matrix.forEach((row, i) => process.stdout.write(`${names[i].padEnd(6)}${row.map((c) => c.toFixed(3).padStart(7)).join('')}\n`));
      }),
    );
}

export function vectorCommand(): Command {
  return new Command('vector')
    .description('steering vectors: create, inspect, export, combine, compare, pack and unpack')
    .addCommand(createCommand())
    .addCommand(infoCommand())
    .addCommand(exportCommand())
    .addCommand(combineCommand())
    .addCommand(compareCommand())
    .addCommand(conditionCommand())
    .addCommand(packCommand())
    .addCommand(unpackCommand())
    .addCommand(
      new Command('schema').description('print the JSON Schema of steering specs (--steer-spec files)').action(
        runAction(async () => {
          process.stdout.write(`${JSON.stringify(steeringSpecJsonSchema(), null, 2)}\n`);
        }),
      ),
    );
}

/** A condition vector's read-out, for `vector info`. */
function conditionLine(c: NonNullable<SteeringVector['meta']['condition']>): string {
  const f1 = c.fit?.layers.find((l) => l.layer === c.layer)?.f1;
  const at = c.read === 'prompt' ? `the prompt's ${c.reduce === 'last' ? 'last token' : 'mean'}` : c.read === 'token' ? 'each token' : 'the running mean over the tokens so far';
  return `condition    holds when the ${c.measure} at layer ${c.layer} (${at}) is ${c.compare} ${Number(c.threshold.toPrecision(4))}${f1 === undefined ? '' : `; held-out F1 ${f1.toFixed(3)} (${c.fit!.folds}-fold)`}`;
}

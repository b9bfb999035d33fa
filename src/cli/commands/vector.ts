import fs from 'node:fs';
import { Command, Option } from 'commander';
import { HOOK_SITES, type HookSite } from '../../graph/hook-points.js';
import { InvalidInputError } from '../../io/errors.js';
import { diagnosticsSeries, diagnosticsSvg } from '../../report/vector-plots.js';
import { readContrastFile, readSetFiles } from '../../steering/datasets.js';
import { extractVector } from '../../steering/extract.js';
import { steeringSpecJsonSchema } from '../../steering/spec.js';
import type { ExtractionMethod, ReadPosition, SteeringVector } from '../../steering/vector.js';
import { exportControlVectorGguf, loadVector, saveVector } from '../../steering/vector-file.js';
import { combineWeighted, cosineMatrix, normalizeVector } from '../../steering/vector-math.js';
import { createConceptVector, type PipelineStage } from '../../auto/concept-vector.js';
import { saveConceptDataset } from '../../concept/concept-data.js';
import { readOpenings } from '../../concept/openings.js';
import { budgetFromFlags, generatorFromFlags, metricFromFlag, writeReport } from '../auto-flags.js';
import { jsonOption, modelOption, openFromOptions, parseIntStrict, parseLayers, parseNumber, progressBar, runAction, threadsOption } from '../common.js';

interface CreateFlags {
  model: string;
  threads?: string;
  out: string;
  pairs?: string;
  positive?: string;
  negative?: string;
  method: ExtractionMethod;
  layers: string;
  site: HookSite;
  read?: ReadPosition;
  chat?: boolean;
  validation: string;
  seed: string;
  batchSize: string;
  description?: string;
  json?: boolean;
  concept?: string;
  neutral?: string;
  source: 'templates' | 'self' | 'endpoint';
  generatorUrl?: string;
  generatorName?: string;
  count: string;
  layer: string;
  coef: string;
  budgetPpl?: string;
  budgetKl?: string;
  metric?: string;
  probePrompts?: string;
  report: boolean;
}

function createCommand(): Command {
  return new Command('create')
    .description('extract a steering vector from contrastive data (all layers in one batched sweep)')
    .addOption(modelOption)
    .requiredOption('-o, --out <file>', 'output vector file (.safetensors)')
    .option('--pairs <file>', 'JSON/JSONL of {positive, negative}, {prompt, positive, negative}, or CAA A/B items')
    .option('--positive <file>', 'positive set (one text per line or a JSON array), with --negative')
    .option('--negative <file>', 'neutral/negative set, with --positive')
    .addOption(new Option('--method <method>', 'extraction method').choices(['diffmean', 'pca_diff', 'pca_center', 'probe']).default('diffmean'))
    .option('--layers <layers>', 'layers: N, N-M, comma list or "all"', 'all')
    .addOption(new Option('--site <site>', 'hook site').choices([...HOOK_SITES]).default('resid_post'))
    .addOption(new Option('--read <position>', "token read per example (default: 'answer' for CAA, else 'last'); 'all' = every completion token (diffmean, probe)").choices(['last', 'mean', 'answer', 'all']))
    .option('--chat', "wrap texts with the model's chat template")
    .option('--validation <fraction>', 'share of pairs held out for diagnostics', '0.2')
    .option('--seed <n>', 'seed of the train/validation split', '0')
    .option('--batch-size <n>', 'sequences per forward', '16')
    .option('--description <text>', 'stored in the vector metadata')
    .option('--concept <text>', 'one click: generate contrastive data for a concept ("sad", "talks about weddings") and choose layer and strength')
    .option('--neutral <text>', 'with --concept: the opposite or neutral concept (default: a plain persona)')
    .addOption(new Option('--source <source>', 'with --concept: who writes the data').choices(['templates', 'self', 'endpoint']).default('templates'))
    .option('--generator-url <url>', 'with --source endpoint: OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (key from STEERER_API_KEY)')
    .option('--generator-name <name>', 'with --generator-url: the model name to ask for', 'default')
    .option('--count <n>', 'with --concept: contrastive pairs to generate', '48')
    .option('--layer <layer>', 'with --concept: steering layer, or "auto" (separability, then measured effect)', 'auto')
    .option('--coef <value>', 'with --concept: coefficient, or "auto" (best concept score within the coherence budget)', 'auto')
    .option('--budget-ppl <eps>', 'coherence budget: steered perplexity under the unsteered model <= (1+eps) x unsteered (default 1)')
    .option('--budget-kl <delta>', 'coherence budget: mean per-token KL(steered || unsteered) <= delta nats')
    .option('--metric <metric>', 'concept score driving the choices: likelihood, projection or embedding (default likelihood)')
    .option('--probe-prompts <file>', 'prompts steered generations are scored on (JSON array or one per line)')
    .option('--no-report', 'with --concept: skip the HTML/JSON report')
    .addOption(threadsOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: CreateFlags) => {
        if (flags.concept !== undefined) {
          if (flags.pairs || flags.positive || flags.negative) throw new InvalidInputError('--concept makes its own data: leave out --pairs/--positive/--negative');
          await createFromConcept(flags);
          return;
        }
        if (!flags.pairs === !(flags.positive && flags.negative)) throw new InvalidInputError('give either --pairs FILE or --positive FILE --negative FILE, or --concept TEXT');
        const model = openFromOptions(flags);
        const opts = { chat: flags.chat, tooLong: 'skip' as const };
        const dataset = flags.pairs ? readContrastFile(model, flags.pairs, opts) : readSetFiles(model, flags.positive!, flags.negative!, opts);
        const bar = progressBar('activations', 2 * dataset.pairs.length, flags.json);
        const vector = await extractVector(model, dataset, {
          method: flags.method,
          layers: parseLayers(flags.layers, model.spec.numLayers),
          site: flags.site,
          read: flags.read ?? dataset.suggestedRead ?? 'last',
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

/** Output paths beside the vector: NAME.safetensors → NAME.data.json, NAME.report.{json,html}. */
function besideVector(out: string, suffix: string): string {
  return out.replace(/\.safetensors$/i, '') + suffix;
}

async function createFromConcept(flags: CreateFlags): Promise<void> {
  const model = openFromOptions(flags);
  const generator = flags.source === 'endpoint' ? generatorFromFlags('generator', { url: flags.generatorUrl, name: flags.generatorName }) : undefined;
  if (flags.source === 'endpoint' && !generator) throw new InvalidInputError('--source endpoint needs --generator-url');
  const layer = flags.layer === 'auto' ? 'auto' : parseIntStrict(flags.layer, '--layer');
  const coefficient = flags.coef === 'auto' ? 'auto' : parseNumber(flags.coef, '--coef');
  const bars = new Map<string, ReturnType<typeof progressBar>>();
  const labels: Record<PipelineStage, string> = { data: 'data       ', activations: 'activations', layers: 'layers     ', strength: 'strength   ' };
  const result = await createConceptVector(model, {
    concept: flags.concept!,
    neutral: flags.neutral,
    source: generator ? { kind: 'endpoint', generator } : { kind: flags.source === 'self' ? 'self' : 'templates' },
    count: parseIntStrict(flags.count, '--count', 2),
    method: flags.method,
    site: flags.site,
    layer,
    coefficient,
    budget: budgetFromFlags(flags),
    metric: metricFromFlag(flags.metric),
    probe: flags.probePrompts ? { prompts: readOpenings(flags.probePrompts) } : undefined,
    seed: parseIntStrict(flags.seed, '--seed'),
    onStage: (stage, done, total) => {
      let bar = bars.get(stage);
      if (!bar) {
        for (const b of bars.values()) b.stop();
        bar = progressBar(labels[stage], total, flags.json);
        bars.set(stage, bar);
      }
      bar.update(done);
    },
  });
  for (const b of bars.values()) b.stop();
  const vector = flags.description ? { ...result.vector, meta: { ...result.vector.meta, description: flags.description } } : result.vector;
  saveVector(flags.out, vector);
  const dataPath = besideVector(flags.out, '.data.json');
  saveConceptDataset(dataPath, result.dataset);
  const s = result.selection;
  let report: { json: string; html: string } | undefined;
  if (flags.report) {
    report = await writeReport(besideVector(flags.out, '.report'), {
      format: 'steerer.eval-report/v1',
      createdAt: new Date().toISOString(),
      model: model.source.name,
      vector: flags.out,
      concept: s.concept,
      ...(s.neutral !== undefined ? { neutral: s.neutral } : {}),
      layer: s.layer,
      site: vector.meta.site,
      coefficient: s.coefficient,
      metric: s.metric,
      budget: s.budget,
      curve: s.strength?.curve ?? [],
      ...(vector.meta.diagnostics ? { diagnostics: vector.meta.diagnostics } : {}),
      selection: s,
      examples: result.examples,
    });
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ out: flags.out, data: dataPath, report, selection: s, examples: result.examples })}\n`);
  } else {
    const d = result.dataset;
    process.stdout.write(`wrote ${flags.out}: "${s.concept}" from ${d.train.length + d.validation.length} ${d.source} pairs (${d.dropped.length} dropped) → ${dataPath}\n`);
    process.stdout.write(diagnosticsTable(vector));
    if (s.layerRanking.length) {
      process.stdout.write(`layer ranking (steered at equal relative strength): ${s.layerRanking.filter((l) => l.effect !== null).map((l) => `${l.layer} (gain ${l.effect!.toFixed(2)}, cost ${l.cost!.toFixed(2)})`).join(', ')}\n`);
    }
    if (s.strength) {
      const st = s.strength;
      process.stdout.write(`strength: ${st.coefficient.toFixed(3)} (${st.stop}; ${st.curve.length} evaluations; concept ${st.concept.toFixed(3)}, cost ${st.cost.toFixed(3)} within ${s.budget.kind} budget ${s.budget.kind === 'perplexity' ? s.budget.epsilon : s.budget.delta})\n`);
    }
    const ex = result.examples[0];
    if (ex) process.stdout.write(`example: ${JSON.stringify(ex.prompt)}\n  unsteered: ${JSON.stringify(ex.base.slice(0, 160))}\n  steered:   ${JSON.stringify(ex.steered.slice(0, 160))}\n`);
    if (report) process.stdout.write(`report: ${report.html}\n`);
  }
  await model.dispose();
}

function diagnosticsTable(v: SteeringVector): string {
  const fmt = (x: number | null, digits = 3): string => (x === null ? '-' : x.toFixed(digits));
  const rec = new Set(v.meta.recommended?.layers ?? []);
  const lines = ['layer  accuracy  AUROC   Fisher    |v|/|x|  held-out', ...(v.meta.diagnostics ?? []).map((d) =>
    `${String(d.layer).padStart(5)}${rec.has(d.layer) ? '*' : ' '} ${fmt(d.accuracy).padStart(8)}  ${fmt(d.auroc).padStart(5)}  ${fmt(d.fisher, 2).padStart(8)}  ${fmt(d.relativeNorm).padStart(8)}  ${String(d.heldOut).padStart(8)}`)];
  if (!v.meta.diagnostics?.length) lines.push('  (no diagnostics stored)');
  if (rec.size) lines.push(`* recommended layer${rec.size > 1 ? 's' : ''}${v.meta.recommended?.coefficient !== undefined ? `, coefficient ${v.meta.recommended.coefficient}` : ''}`);
  return `${lines.join('\n')}\n`;
}

function infoCommand(): Command {
  return new Command('info')
    .description('metadata and per-layer diagnostics of a vector (table, optional SVG plot)')
    .argument('<file>', 'vector file (.safetensors or control-vector .gguf)')
    .option('--svg <file>', 'write a plot of the per-layer diagnostics')
    .addOption(jsonOption)
    .action(
      runAction(async (file: string, flags: { svg?: string; json?: boolean }) => {
        const v = loadVector(file);
        const layers = [...v.directions.keys()].sort((a, b) => a - b);
        const norms = layers.map((l) => Math.hypot(...v.directions.get(l)!));
        if (flags.svg) {
          const series = diagnosticsSeries(v.meta.diagnostics ?? []);
          if (series.length === 0) series.push({ name: '|v|', points: layers.map((l, i) => [l, norms[i]] as const) });
          const svg = await diagnosticsSvg(`${file}: separation by layer`, series);
          fs.writeFileSync(flags.svg, svg);
        }
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ meta: v.meta, layers, norms, hasMeans: (v.means?.size ?? 0) > 0 }, null, 2)}\n`);
          return;
        }
        const m = v.meta;
        process.stdout.write(
          [
            `${file}`,
            `model        ${m.model.name} (${m.model.architecture}, hidden ${m.model.hiddenSize}, ${m.model.numLayers} layers)`,
            `method       ${m.method}${m.readPosition ? `, read ${m.readPosition}` : ''}, site ${m.site}`,
            ...(m.dataset ? [`data         ${m.dataset.source} (${m.dataset.size} pairs, sha256 ${m.dataset.hash.slice(0, 12)})`] : []),
            ...(m.description ? [`description  ${m.description}`] : []),
            `layers       ${layers.join(', ')}`,
            `norms        ${norms.map((n) => n.toFixed(3)).join(', ')}`,
            '',
          ].join('\n'),
        );
        process.stdout.write(diagnosticsTable(v));
        if (flags.svg) process.stdout.write(`plot written to ${flags.svg}\n`);
      }),
    );
}

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
          const m = /^(.+?)(?::(-?[\d.]+(?:e-?\d+)?))?$/i.exec(t)!;
          return { vector: loadVector(m[1]), weight: m[2] === undefined ? 1 : parseNumber(m[2], `weight of ${m[1]}`) };
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
    .description('steering vectors: create, inspect, export, combine, compare')
    .addCommand(createCommand())
    .addCommand(infoCommand())
    .addCommand(exportCommand())
    .addCommand(combineCommand())
    .addCommand(compareCommand())
    .addCommand(
      new Command('schema').description('print the JSON Schema of steering specs (--steer-spec files)').action(
        runAction(async () => {
          process.stdout.write(`${JSON.stringify(steeringSpecJsonSchema(), null, 2)}\n`);
        }),
      ),
    );
}

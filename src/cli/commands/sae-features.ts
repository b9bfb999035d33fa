import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { oldSpelling } from '../flag-aliases.js';
import { InvalidInputError } from '../../io/errors.js';
import { writeFileAtomic } from '../../io/files.js';
import { templateConceptData } from '../../concept/template-source.js';
import { ActivationStore } from '../../sae/activation-store.js';
import { featureCard, featureCards, renderFeatureCardText, renderFeatureCardsHtml } from '../../sae/feature-card.js';
import { encodeText, tokenStrings } from '../../sae/feature-activations.js';
import { loadFeatureIndex, saveFeatureIndex } from '../../sae/feature-index.js';
import { buildFeatureIndex } from '../../sae/feature-index-builder.js';
import { contrastFeatures, featuresNearVector } from '../../sae/feature-search.js';
import { loadSae } from '../../sae/load-sae.js';
import { checkSaeFitsModel, type Sae } from '../../sae/sae.js';
import { loadVector, saveVector } from '../../steering/vector-file.js';
import { saeFilteredVector } from '../../sae/filter-vector.js';
import { hookName } from '../../graph/hook-points.js';
import type { HookedModel } from '../../runtime/model.js';
import { readPrompts } from './activations.js';
import { jsonOption, modelOption, openFromOptions, parseIntStrict, progressBar, runAction, deviceOption, threadsOption } from '../common.js';

interface SaeFlags {
  sae: string;
  model: string;
  threads?: string;
  device?: string;
  json?: boolean;
}

function open(flags: SaeFlags): { model: HookedModel; sae: Sae } {
  const model = openFromOptions(flags);
  const sae = loadSae(flags.sae);
  checkSaeFitsModel(sae, { ...model.spec, name: model.source.name });
  return { model, sae };
}

const saeOption = ['--sae <path>', 'SAE: a Steerer .safetensors file or a SAELens / sparsify folder'] as const;

function writeText(file: string, text: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const bytes = new TextEncoder().encode(text);
  writeFileAtomic(file, (w) => w(bytes));
}

interface FeaturesFlags extends SaeFlags {
  text?: string;
  store?: string;
  out?: string;
  top: string;
  contexts: string;
  maxRows?: string;
  html?: string;
}

function featuresCommand(): Command {
  return new Command('features')
    .description('active features per token of a text (--text), or a feature index with top-activating contexts over a store (--store --out)')
    .requiredOption(...saeOption)
    .addOption(modelOption)
    .option('--text <text>', 'show the strongest features at every token of this text')
    .option('--store <dir>', 'activation store to index (from `steerer sae collect`)')
    .option('-o, --out <file>', 'with --store: feature index JSON to write')
    .option('--top <n>', 'features per token (--text), or features on the HTML page (--html)', '5')
    .option('--contexts <n>', 'with --store: top-activating contexts kept per feature', '12')
    .option('--max-rows <n>', 'with --store: index at most this many rows')
    .option('--html <file>', 'with --store: also write cards of the most frequent features as HTML')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: FeaturesFlags) => {
        const { model, sae } = open(flags);
        const top = parseIntStrict(flags.top, '--top', 1);
        if ((flags.text === undefined) === (flags.store === undefined)) throw new InvalidInputError('give exactly one of --text or --store');
        if (flags.text !== undefined) {
          const rows = await encodeText(model, sae, flags.text, { top });
          if (flags.json) {
            process.stdout.write(`${JSON.stringify(rows)}\n`);
            return;
          }
          for (const r of rows) {
            const feats = r.features.map((f) => `${f.feature}:${f.activation.toFixed(2)}`).join('  ');
            process.stdout.write(`${String(r.position).padStart(4)} ${JSON.stringify(r.token).padEnd(16)} ${feats}\n`);
          }
          return;
        }
        if (!flags.out) throw new InvalidInputError('--store needs --out FILE for the feature index');
        const store = ActivationStore.open(flags.store!);
        const maxRows = flags.maxRows === undefined ? undefined : parseIntStrict(flags.maxRows, '--max-rows', 1);
        const total = 2 * Math.min(store.rows, maxRows ?? Infinity);
        const bar = progressBar('indexing', total, flags.json);
        const index = await buildFeatureIndex(sae, store, {
          decode: (ids) => tokenStrings(model, ids),
          topContexts: parseIntStrict(flags.contexts, '--contexts', 1),
          maxRows,
          threads: model.threads,
          onProgress: (d) => bar.update(d),
        });
        bar.stop();
        saveFeatureIndex(flags.out, index);
        const alive = index.features.filter((f) => f.frequency > 0).length;
        if (flags.html) {
          const chosen = [...index.features].sort((a, b) => b.frequency - a.frequency).slice(0, top).map((f) => f.feature);
          writeText(flags.html, renderFeatureCardsHtml(await featureCards(model, sae, index, chosen), `Features of ${flags.sae}`));
        }
        const summary = { index: flags.out, rows: index.rows, features: index.features.length, active: alive };
        if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stdout.write(`indexed ${index.rows.toLocaleString('en')} rows: ${alive} of ${index.features.length} features fire → ${flags.out}\n`);
      }),
    );
}

interface SearchFlags extends SaeFlags {
  concept?: string;
  neutral?: string;
  positive?: string;
  negative?: string;
  vector?: string;
  layer?: string;
  count: string;
  top: string;
  index?: string;
  seed: string;
}

function searchCommand(): Command {
  return new Command('search')
    .description('find features for a concept (contrast of activations on concept vs neutral texts) or near a steering vector (decoder cosine)')
    .requiredOption(...saeOption)
    .addOption(modelOption)
    .option('--concept <text>', 'concept to look for; contrastive texts come from the persona templates, as in `vector create --concept`')
    .option('--neutral <text>', 'with --concept: the neutral or opposite concept')
    .option('--positive <file>', 'your own concept texts (one per line or a JSON array), with --negative')
    .option('--negative <file>', 'your own neutral texts, with --positive')
    .option('--vector <file>', 'rank features by cosine between their decoder direction and this vector (at the SAE\'s layer)')
    .option('--count <n>', 'with --concept: contrastive pairs to generate', '32')
    .option('--top <n>', 'features to list', '10')
    .option('--index <file>', 'feature index: print each feature\'s best context too')
    .option('--seed <n>', 'seed of the generated texts', '0')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: SearchFlags) => {
        const { model, sae } = open(flags);
        const top = parseIntStrict(flags.top, '--top', 1);
        const modes = [flags.concept !== undefined, flags.positive !== undefined, flags.vector !== undefined].filter(Boolean).length;
        if (modes !== 1) throw new InvalidInputError('give exactly one of --concept, --positive/--negative or --vector');
        const index = flags.index ? loadFeatureIndex(flags.index) : undefined;
        const best = (f: number): string => {
          const c = index?.features[f]?.contexts[0];
          return c ? c.tokens.map((t, i) => (i === c.focus ? `«${t}»` : t)).join('').replace(/\n/g, '⏎') : '';
        };
        let lines: string[];
        let json: unknown;
        if (flags.vector) {
          const v = loadVector(flags.vector);
          const dir = v.directions.get(sae.cfg.hook.layer);
          if (!dir) throw new InvalidInputError(`the vector has no direction for layer ${sae.cfg.hook.layer}, where the SAE reads`);
          const matches = await featuresNearVector(sae, dir, { top, threads: model.threads });
          json = matches;
          lines = matches.map((m) => `${String(m.feature).padStart(6)}  cos ${m.cosine.toFixed(3)}  ${best(m.feature)}`);
        } else {
          let positive: string[];
          let neutral: string[];
          if (flags.concept !== undefined) {
            const data = await templateConceptData(model, { concept: flags.concept, neutral: flags.neutral, count: parseIntStrict(flags.count, '--count', 2), seed: parseIntStrict(flags.seed, '--seed'), validationFraction: 0 });
            const items = [...data.train, ...data.validation];
            positive = items.map((i) => `${i.positive.prompt} ${i.positive.completion}`.trim());
            neutral = items.map((i) => `${i.negative.prompt} ${i.negative.completion}`.trim());
          } else {
            if (!flags.negative) throw new InvalidInputError('--positive needs --negative');
            positive = readPrompts(flags.positive!, '--positive');
            neutral = readPrompts(flags.negative, '--negative');
            if (positive.length === 0 || neutral.length === 0) throw new InvalidInputError(`${positive.length === 0 ? `--positive ${flags.positive}` : `--negative ${flags.negative}`}: no texts`);
          }
          const matches = await contrastFeatures(model, sae, positive, neutral, { top });
          json = matches;
          lines = matches.map((m) => `${String(m.feature).padStart(6)}  score ${m.score.toFixed(3)}  fires on ${(m.freqPositive * 100).toFixed(0)}% of concept texts, ${(m.freqNeutral * 100).toFixed(0)}% of neutral  ${best(m.feature)}`);
        }
        if (flags.json) process.stdout.write(`${JSON.stringify(json)}\n`);
        else process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}

interface CardFlags extends SaeFlags {
  index: string;
  html?: string;
  top: string;
}

function cardCommand(): Command {
  return new Command('card')
    .description('a feature\'s card: frequency, activations, top contexts, promoted and suppressed tokens')
    .argument('<features...>', 'feature numbers')
    .requiredOption(...saeOption)
    .addOption(modelOption)
    .requiredOption('--index <file>', 'feature index from `steerer sae features --store --out`')
    .option('--html <file>', 'also write the cards as one HTML page')
    .option('--top <n>', 'promoted / suppressed tokens listed', '10')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (features: string[], flags: CardFlags) => {
        const { model, sae } = open(flags);
        const index = loadFeatureIndex(flags.index);
        const ids = features.map((f) => parseIntStrict(f, 'feature', 0));
        const top = parseIntStrict(flags.top, '--top', 1);
        const cards = ids.length === 1 ? [await featureCard(model, sae, index, ids[0], { top })] : await featureCards(model, sae, index, ids, { top });
        if (flags.html) writeText(flags.html, renderFeatureCardsHtml(cards, `Features ${ids.join(', ')} of ${flags.sae}`));
        if (flags.json) process.stdout.write(`${JSON.stringify(cards)}\n`);
        else process.stdout.write(`${cards.map(renderFeatureCardText).join('\n\n')}\n`);
      }),
    );
}

interface FilterFlags extends SaeFlags {
  vector: string;
  store: string;
  out: string;
  top: string;
  rows: string;
  positiveOnly?: boolean;
}

const keptOption = new Option('--top <n>', 'features kept').default('64');

function filterCommand(): Command {
  return new Command('filter')
    .description("an SAE-filtered steering vector: the vector's effect in feature space, top features kept, decoded back")
    .requiredOption(...saeOption)
    .addOption(modelOption)
    .requiredOption('--vector <file>', 'steering vector with a direction at the SAE\'s layer')
    .requiredOption('--store <dir>', 'activation store at the SAE\'s hook: the reference activations the effect is measured on')
    .requiredOption('-o, --out <file>', 'filtered vector file (.safetensors)')
    .addOption(keptOption)
    // Renamed: --top counts features in every sae command; --top-k is a sampling flag.
    .addOption(oldSpelling('--top-k', keptOption))
    .option('--rows <n>', 'reference rows', '4096')
    .option('--positive-only', 'keep only features the vector turns up')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: FilterFlags) => {
        const { sae } = open(flags);
        const vector = loadVector(flags.vector);
        const layer = sae.cfg.hook.layer;
        const direction = vector.directions.get(layer);
        if (!direction) throw new InvalidInputError(`the vector has no direction for layer ${layer}, where the SAE reads`);
        if (vector.meta.site !== sae.cfg.hook.site) throw new InvalidInputError(`the vector acts at ${vector.meta.site} but the SAE reads ${sae.cfg.hook.site}`);
        const store = ActivationStore.open(flags.store);
        if (store.manifest.hook !== hookName(sae.cfg.hook)) throw new InvalidInputError(`the store holds ${store.manifest.hook}, the SAE reads ${hookName(sae.cfg.hook)}`);
        const shard = store.readShard(0);
        const rows = Math.min(parseIntStrict(flags.rows, '--rows', 1), shard.rows);
        const f = await saeFilteredVector(sae, direction, shard.acts.subarray(0, rows * store.dim), rows, { topK: parseIntStrict(flags.top, '--top', 1), positiveOnly: flags.positiveOnly });
        saveVector(flags.out, {
          directions: new Map([[layer, f.direction]]),
          meta: {
            ...vector.meta,
            method: 'combined',
            recommended: { layers: [layer], coefficient: vector.meta.recommended?.coefficient },
            diagnostics: undefined,
            auto: undefined,
            createdAt: new Date().toISOString(),
            description: `SAE-filtered (${f.features.length} features of ${flags.sae}) from ${flags.vector}`,
          },
        });
        const summary = { out: flags.out, layer, features: f.features, cosine: f.cosine, keptMass: f.keptMass };
        if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stdout.write(`kept ${f.features.length} features (${(f.keptMass * 100).toFixed(0)} % of the vector's feature-space effect); cos(original, filtered) ${f.cosine.toFixed(3)} → ${flags.out}\n`);
      }),
    );
}

/** `steerer sae features|search|card|filter`. */
export function saeFeatureCommands(): Command[] {
  return [featuresCommand(), searchCommand(), cardCommand(), filterCommand()];
}

import type { Command } from 'commander';
import { Option } from 'commander';
import { ActivationIndex } from '../../explore/activation-index.js';
import { explainVector } from '../../explore/explain-vector.js';
import { checkIndexModel } from '../../explore/index-query.js';
import type { HookSite } from '../../graph/hook-points.js';
import { InvalidInputError } from '../../io/errors.js';
import { readText } from '../../io/json-records.js';
import { createConceptVector, type PipelineStage } from '../../auto/concept-vector.js';
import type { DataSource } from '../../auto/concept-sources.js';
import { DEFAULT_RULE, STRENGTH_RULES, type StrengthRuleKind } from '../../auto/strength-choice.js';
import { CONCEPT_SOURCES, saveConceptDataset } from '../../concept/concept-data.js';
import { readLexicon, writeLexicon } from '../../concept/lexicon.js';
import { readOpenings } from '../../concept/openings.js';
import type { ExtractionMethod } from '../../steering/vector.js';
import { saveVector } from '../../steering/vector-file.js';
import { generatorFromFlags, writeReport } from '../auto-flags.js';
import { openFromOptions, parseIntStrict, parseNumber, progressBar, withFileFlags } from '../common.js';
import { diagnosticsTable } from '../vector-table.js';

/** `vector create --concept`: the one-click pipeline's flags and its run. */

export interface ConceptFlags {
  model: string;
  threads?: string;
  device?: string;
  out: string;
  method: ExtractionMethod;
  site: HookSite;
  seed: string;
  description?: string;
  json?: boolean;
  concept?: string;
  neutral?: string;
  words?: string;
  wordsMode: 'extend' | 'replace';
  lexicon?: string;
  source?: string;
  corpus?: string;
  generatorUrl?: string;
  generatorName?: string;
  count: string;
  layer: string;
  coef: string;
  rule: StrengthRuleKind;
  budgetPpl?: string;
  away?: boolean;
  probePrompts?: string;
  probeTokens: string;
  report: boolean;
  index?: string;
}

export function addConceptOptions(cmd: Command): Command {
  return cmd
    .option('--neutral <text>', 'with --concept and the templates/self/endpoint sources: the opposite or neutral concept')
    .option('--words <list>', "with --concept: the concept's words, comma-separated (extend WordNet's, or replace them with --words-mode replace)")
    .addOption(new Option('--words-mode <mode>', 'with --words: extend or replace the WordNet lexicon').choices(['extend', 'replace']).default('extend'))
    .option('--lexicon <file>', "with --concept: a lexicon file (as written beside a vector: NAME.lexicon.json) instead of WordNet's")
    .option('--source <list>', `with --concept: data sources, comma-separated: ${CONCEPT_SOURCES.join(', ')} (default: pairs,continuations; chat models add self)`)
    .option('--corpus <file>', 'with --source corpus: a text file to mine (paragraphs separated by blank lines)')
    .option('--generator-url <url>', 'with --source endpoint: OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (key from STEERER_API_KEY)')
    .option('--generator-name <name>', 'with --generator-url: the model name to ask for', 'default')
    .option('--count <n>', 'with --concept: items per source before the quality gate', '48')
    .option('--layer <layer>', 'with --concept: steering layer, or "auto" (separability, then measured steering)', 'auto')
    .option('--coef <value>', 'with --concept: coefficient, or "auto" (chosen by --rule within the budget)', 'auto')
    .addOption(new Option('--rule <rule>', 'with --coef auto: smallest-present (weakest strength at which the concept is clearly present), harmonic (best harmonic mean of concept and fluency) or most-present (most concept within budget by one standard error)').choices([...STRENGTH_RULES]).default(DEFAULT_RULE.kind))
    .option('--budget-ppl <eps>', `coherence budget: steered texts' perplexity under the unsteered model <= (1+eps) x the unsteered texts' (default ${(DEFAULT_RULE.maxPplRatio - 1).toFixed(2)})`)
    .option('--away', 'recommend a negative strength that removes the concept ("never mention X")')
    .option('--probe-prompts <file>', 'prompts the steered texts are measured on (JSON array or one per line)')
    .option('--probe-tokens <n>', "tokens per measured text (default: generate's default)", '128')
    .option('--no-report', 'with --concept: skip the HTML/JSON report')
    .option('--index <dir>', "with --concept: an activation index (steerer index build) whose passages reading highest and lowest along the vector go in the report");
}

/** Paths beside the vector: NAME.safetensors → NAME.data.json, NAME.lexicon.json, NAME.report.{json,html}. */
function besideVector(out: string, suffix: string): string {
  return out.replace(/\.safetensors$/i, '') + suffix;
}

function sourcesFromFlags(flags: ConceptFlags): DataSource[] | undefined {
  if (flags.source === undefined) {
    if (flags.corpus !== undefined || flags.generatorUrl !== undefined) throw new InvalidInputError('--corpus and --generator-url go with --source corpus / --source endpoint');
    return undefined;
  }
  const names = flags.source.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new InvalidInputError('--source is empty');
  return names.map((name): DataSource => {
    if (!(CONCEPT_SOURCES as readonly string[]).includes(name)) throw new InvalidInputError(`--source: unknown source "${name}" (sources: ${CONCEPT_SOURCES.join(', ')})`);
    if (name === 'corpus') {
      if (!flags.corpus) throw new InvalidInputError('--source corpus needs --corpus FILE');
      const texts = readText(flags.corpus).split(/\n\s*\n/).map((t) => t.trim()).filter(Boolean);
      if (texts.length === 0) throw new InvalidInputError(`--corpus ${flags.corpus} holds no text`);
      return { kind: 'corpus', texts };
    }
    if (name === 'endpoint') {
      const generator = generatorFromFlags('generator', { url: flags.generatorUrl, name: flags.generatorName });
      if (!generator) throw new InvalidInputError('--source endpoint needs --generator-url');
      return { kind: 'endpoint', generator };
    }
    return { kind: name as 'pairs' | 'continuations' | 'samples' | 'templates' | 'self' };
  });
}

export async function createFromConcept(flags: ConceptFlags): Promise<void> {
  // Flags first: nothing is loaded for a command that cannot run.
  const files = [['--corpus', flags.corpus], ['--lexicon', flags.lexicon], ['--probe-prompts', flags.probePrompts]] as const;
  const sources = withFileFlags(files, () => sourcesFromFlags(flags));
  const layer = flags.layer === 'auto' ? 'auto' : parseIntStrict(flags.layer, '--layer');
  const coefficient = flags.coef === 'auto' ? 'auto' : parseNumber(flags.coef, '--coef');
  const eps = flags.budgetPpl === undefined ? undefined : parseNumber(flags.budgetPpl, '--budget-ppl');
  if (eps !== undefined && !(eps > 0)) throw new InvalidInputError(`--budget-ppl must be positive, got ${flags.budgetPpl}`);
  const words = flags.words?.split(',').map((w) => w.trim()).filter(Boolean);
  if (flags.words !== undefined && words!.length === 0) throw new InvalidInputError('--words is empty');
  const lexicon = flags.lexicon ? withFileFlags(files, () => readLexicon(flags.lexicon!)) : undefined;
  const probePrompts = flags.probePrompts ? withFileFlags(files, () => readOpenings(flags.probePrompts!)) : undefined;
  const count = parseIntStrict(flags.count, '--count', 4);
  const probeTokens = parseIntStrict(flags.probeTokens, '--probe-tokens', 1);
  const index = flags.index === undefined ? undefined : ActivationIndex.open(flags.index);
  const model = openFromOptions(flags);
  if (index) checkIndexModel(index, model);

  const bars = new Map<string, ReturnType<typeof progressBar>>();
  const labels: Record<PipelineStage, string> = { data: 'data       ', activations: 'activations', layers: 'layers     ', strength: 'strength   ' };
  const result = await createConceptVector(model, {
    concept: flags.concept!,
    neutral: flags.neutral,
    words,
    wordsMode: flags.wordsMode,
    lexicon,
    sources,
    count,
    method: flags.method,
    site: flags.site,
    layer,
    coefficient,
    rule: { kind: flags.rule, ...(eps !== undefined ? { maxPplRatio: 1 + eps } : {}) },
    direction: flags.away ? 'away' : 'toward',
    probe: { ...(probePrompts ? { prompts: probePrompts } : {}), maxTokens: probeTokens },
    seed: parseIntStrict(flags.seed, '--seed'),
    onStage: (stage, done, total) => {
      let bar = bars.get(stage);
      if (!bar) {
        for (const b of bars.values()) b.stop();
        bar = progressBar(labels[stage], total, flags.json);
        bars.set(stage, bar);
      }
      bar.update(Math.min(done, total));
    },
  });
  for (const b of bars.values()) b.stop();
  const vector = flags.description ? { ...result.vector, meta: { ...result.vector.meta, description: flags.description } } : result.vector;
  saveVector(flags.out, vector);
  const dataPath = besideVector(flags.out, '.data.json');
  saveConceptDataset(dataPath, result.dataset);
  const lexiconPath = besideVector(flags.out, '.lexicon.json');
  writeLexicon(lexiconPath, result.lexicon);
  const s = result.selection;
  let report: { json: string; html: string } | undefined;
  if (flags.report) {
    // What the vector means, beside how strong it should be: the logit lens of each layer, and
    // the index's passages at its layer when an index is given.
    const explanation = await explainVector(model, vector, index ? { index } : {});
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
      explanation,
    });
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ out: flags.out, data: dataPath, lexicon: lexiconPath, report, selection: s, examples: result.examples })}\n`);
  } else {
    const d = result.dataset;
    const lex = result.lexicon;
    process.stdout.write(`concept "${s.concept}": ${lex.kind} (${lex.why}); terms: ${lex.terms.slice(0, 8).map((t) => t.word).join(', ')}${lex.terms.length > 8 ? ', ...' : ''} → ${lexiconPath}\n`);
    for (const r of d.sources ?? []) process.stdout.write(`  ${r.source}: ${r.kept} of ${r.considered} pairs kept (concept terms per text: positive ${r.positiveHits.toFixed(2)}, negative ${r.negativeHits.toFixed(2)})\n`);
    process.stdout.write(`wrote ${flags.out}: ${d.train.length + d.validation.length} pairs (${d.dropped.length} dropped) → ${dataPath}\n`);
    process.stdout.write(diagnosticsTable(vector));
    if (s.layerRanking.length > 1) {
      process.stdout.write(`layers tried at relative strength ${Number(s.layerRanking[0].relative.toPrecision(3))}: ${s.layerRanking.map((l) => `${l.layer} (concept ${l.concept.toFixed(2)}, cost ${l.cost.toFixed(2)}${l.feasible ? '' : ', over budget'})`).join(', ')}\n`);
    }
    if (s.strength) for (const line of s.strength.explanation) process.stdout.write(`  ${line}\n`);
    process.stdout.write(`recommended: layer${(s.layers ?? [s.layer]).length > 1 ? 's' : ''} ${(s.layers ?? [s.layer]).join(',')}, coefficient ${Number(s.coefficient.toPrecision(4))} (used by \`generate --steer ${flags.out}\`)\n`);
    const ex = result.examples[0];
    if (ex) process.stdout.write(`example: ${JSON.stringify(ex.prompt)}\n  unsteered: ${JSON.stringify(ex.base.slice(0, 160))}\n  steered:   ${JSON.stringify(ex.steered.slice(0, 160))}\n`);
    if (report) process.stdout.write(`report: ${report.html}\n`);
  }
  await model.dispose();
}

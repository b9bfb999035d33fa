import fs from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../io/errors.js';
import type { CoherenceBudget } from '../auto/steering-trial.js';
import { CONCEPT_METRICS, type ConceptMetric } from '../evals/concept-score.js';
import { openAiGenerator } from '../generators/openai-generator.js';
import type { TextGenerator } from '../generators/text-generator.js';
import { localGenerator } from '../generators/local-generator.js';
import type { Device } from '../runtime/device.js';
import { openModel } from '../runtime/open-model.js';
import { renderReportHtml, type EvalReport } from '../report/eval-report.js';
import { writeFileAtomic } from '../io/files.js';
import { parseNumber } from './common.js';

/** --budget-ppl EPS / --budget-kl DELTA → a coherence budget (default: the library's). */
export function budgetFromFlags(flags: { budgetPpl?: string; budgetKl?: string }): CoherenceBudget | undefined {
  if (flags.budgetPpl !== undefined && flags.budgetKl !== undefined) throw new InvalidInputError('give --budget-ppl or --budget-kl, not both');
  if (flags.budgetPpl !== undefined) return { kind: 'perplexity', epsilon: positive(flags.budgetPpl, '--budget-ppl') };
  if (flags.budgetKl !== undefined) return { kind: 'kl', delta: positive(flags.budgetKl, '--budget-kl') };
  return undefined;
}

function positive(v: string, flag: string): number {
  const n = parseNumber(v, flag);
  if (n <= 0) throw new InvalidInputError(`${flag} must be positive, got ${v}`);
  return n;
}

export function metricFromFlag(v: string | undefined): ConceptMetric | undefined {
  if (v === undefined) return undefined;
  if (!(CONCEPT_METRICS as readonly string[]).includes(v)) throw new InvalidInputError(`--metric must be one of ${CONCEPT_METRICS.join(', ')}, got "${v}"`);
  return v as ConceptMetric;
}

/**
 * A text generator from flags: an OpenAI-compatible endpoint (--X-url, --X-name; the API key
 * from STEERER_API_KEY so it stays out of shell history) or a local model file (--X-model).
 */
export function generatorFromFlags(kind: string, flags: { url?: string; name?: string; model?: string; threads?: number; device?: Device }): TextGenerator | undefined {
  if (flags.url !== undefined && flags.model !== undefined) throw new InvalidInputError(`give --${kind}-url or --${kind}-model, not both`);
  if (flags.url !== undefined) {
    // A server that caps max_tokens below what is asked (steerer serve: 1024) is asked within its limit, and we say so.
    const onNotice = (message: string): void => void process.stderr.write(`steerer: note: --${kind}-url ${message}\n`);
    return openAiGenerator({ baseUrl: flags.url, model: flags.name ?? 'default', apiKey: process.env.STEERER_API_KEY, onNotice });
  }
  if (flags.model !== undefined) return localGenerator(openModel(flags.model, { threads: flags.threads, device: flags.device }));
  return undefined;
}

/** Writes report.json and report.html next to each other (atomically). */
export async function writeReport(base: string, report: EvalReport): Promise<{ json: string; html: string }> {
  fs.mkdirSync(path.dirname(path.resolve(base)), { recursive: true });
  const json = `${base}.json`;
  const html = `${base}.html`;
  const enc = new TextEncoder();
  const jsonBytes = enc.encode(`${JSON.stringify(report, null, 2)}\n`);
  writeFileAtomic(json, (w) => w(jsonBytes));
  const htmlBytes = enc.encode(await renderReportHtml(report));
  writeFileAtomic(html, (w) => w(htmlBytes));
  return { json, html };
}

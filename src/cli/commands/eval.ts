import { Command } from 'commander';
import { evaluateVector } from '../../auto/evaluate-vector.js';
import { readOpenings } from '../../concept/openings.js';
import { InvalidInputError } from '../../io/errors.js';
import { loadVector } from '../../steering/vector-file.js';
import { modelMismatch } from '../../steering/model-match.js';
import { modelShape } from '../../steering/resolve.js';
import { budgetFromFlags, generatorFromFlags, metricFromFlag, writeReport } from '../auto-flags.js';
import { jsonOption, modelOption, openFromOptions, parseIntStrict, parseNumber, progressBar, runAction, runtimeFromOptions, deviceOption, threadsOption, withFileFlags } from '../common.js';

interface EvalFlags {
  model: string;
  threads?: string;
  device?: string;
  vector: string;
  layer?: string;
  coefs?: string;
  coef?: string;
  concept?: string;
  neutral?: string;
  metric?: string;
  budgetPpl?: string;
  budgetKl?: string;
  benchmarks?: string;
  caa?: string;
  limit: string;
  prompts?: string;
  maxTokens: string;
  judgeModel?: string;
  judgeUrl?: string;
  judgeName?: string;
  out: string;
  force?: boolean;
  json?: boolean;
}

const list = (v: string | undefined): string[] => (v === undefined ? [] : v.split(',').map((s) => s.trim()).filter((s) => s !== ''));

export function evalCommand(): Command {
  return new Command('eval')
    .description('measure a steering vector: concept score and coherence by coefficient, capability retention, judge, examples (JSON + HTML report)')
    .addOption(modelOption)
    .requiredOption('--vector <file>', 'steering vector (.safetensors or control-vector .gguf)')
    .option('--layer <n>', "layer to steer (default: the vector's recommended layer)")
    .option('--coefs <list>', 'coefficients to sweep, comma-separated (0 is always added)')
    .option('--coef <value>', 'coefficient for capability, judge and examples (default: recommended)')
    .option('--concept <text>', 'concept name for the likelihood/embedding scores and the judge (default: the one the vector was made for)')
    .option('--neutral <text>', 'neutral/opposite concept subtracted in the concept scores')
    .option('--metric <metric>', 'concept score: likelihood, projection or embedding')
    .option('--budget-ppl <eps>', 'coherence budget marked in the report: perplexity <= (1+eps) x unsteered')
    .option('--budget-kl <delta>', 'coherence budget marked in the report: mean KL <= delta nats/token')
    .option('--benchmarks <list>', 'capability retention: arc_easy, arc_challenge, piqa, copa, boolq, openbook_qa, siqa, winogrande')
    .option('--caa <list>', 'CAA A/B behaviour probability: sycophancy, refusal, hallucination, ...')
    .option('--limit <n>', 'items per benchmark (seeded sample)', '200')
    .option('--prompts <file>', 'prompts to continue (JSON array or one per line; default: built-in story starts or instructions)')
    .option('-n, --max-tokens <n>', 'tokens per continuation', '32')
    .option('--judge-model <path>', 'local instruct model that rates concept, instruction following and fluency (0-2)')
    .option('--judge-url <url>', 'OpenAI-compatible endpoint for the judge (key from STEERER_API_KEY)')
    .option('--judge-name <name>', 'model name to ask the judge endpoint for', 'default')
    .option('-o, --out <base>', 'report path without extension: writes BASE.json and BASE.html', 'steerer-eval')
    .option('--force', 'evaluate a vector made on another model (same hidden size) instead of refusing it, with a warning')
    .addOption(threadsOption)
    .addOption(deviceOption)
    .addOption(jsonOption)
    .action(
      runAction(async (flags: EvalFlags) => {
        const files = [['--vector', flags.vector], ['--prompts', flags.prompts]] as const;
        const vector = withFileFlags(files, () => loadVector(flags.vector));
        const prompts = flags.prompts ? withFileFlags(files, () => readOpenings(flags.prompts!)) : undefined;
        const model = openFromOptions(flags);
        // Steered like --steer: a vector made on another model is refused unless --force.
        const mismatch = modelMismatch(flags.vector, vector.meta.model, modelShape(model));
        if (mismatch && !flags.force) throw new InvalidInputError(`--vector: ${mismatch}; give --force to apply it anyway`);
        if (mismatch) process.stderr.write(`steerer: warning: ${mismatch} (applied because of --force)\n`);
        const judge = generatorFromFlags('judge', { url: flags.judgeUrl, name: flags.judgeName, model: flags.judgeModel, ...runtimeFromOptions(flags) });
        const coefs = list(flags.coefs).map((c) => parseNumber(c, '--coefs'));
        if (flags.coefs !== undefined && coefs.length === 0) throw new InvalidInputError('--coefs needs at least one number');
        let bar: ReturnType<typeof progressBar> | undefined;
        let current = '';
        const report = await evaluateVector(model, vector, {
          vectorName: flags.vector,
          layer: flags.layer === undefined ? undefined : parseIntStrict(flags.layer, '--layer'),
          coefficients: coefs.length > 0 ? coefs : undefined,
          coefficient: flags.coef === undefined ? undefined : parseNumber(flags.coef, '--coef'),
          concept: flags.concept,
          neutral: flags.neutral,
          metric: metricFromFlag(flags.metric),
          budget: budgetFromFlags(flags),
          probe: { prompts, maxTokens: parseIntStrict(flags.maxTokens, '--max-tokens', 1), measureKl: true },
          benchmarks: list(flags.benchmarks),
          caa: list(flags.caa),
          limit: parseIntStrict(flags.limit, '--limit', 1),
          judge,
          onStage: (stage, done, total) => {
            if (stage !== current) {
              bar?.stop();
              current = stage;
              bar = progressBar(stage.padEnd(12), total, flags.json);
            }
            bar!.update(done);
          },
        });
        bar?.stop();
        const paths = await writeReport(flags.out, report);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ ...paths, report })}\n`);
        } else {
          const f = (x: number | null, d = 3): string => (x === null ? '-' : x.toFixed(d));
          process.stdout.write(`layer ${report.layer}, concept score: ${report.metric}\ncoefficient   concept  perplexity  mean KL  distinct-2\n`);
          for (const p of report.curve) process.stdout.write(`${f(p.coefficient).padStart(11)}  ${f(p.concept).padStart(8)}  ${f(p.perplexity, 2).padStart(10)}  ${f(p.meanKl).padStart(7)}  ${f(p.distinct2).padStart(10)}\n`);
          for (const c of report.capability ?? []) {
            process.stdout.write(`${c.name} ${c.metric} (n=${c.n}): unsteered ${f(c.base)}, steered ${f(c.steered)} at ${f(report.coefficient, 2)} (${(100 * c.relativeChange).toFixed(1)} %)\n`);
          }
          if (report.judge) process.stdout.write(`judge ${report.judge.model}: unsteered ${f(report.judge.base.score)}, steered ${f(report.judge.steered.score)}\n`);
          process.stdout.write(`report: ${paths.html}\n`);
        }
        await model.dispose();
      }),
    );
}

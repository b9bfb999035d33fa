import fs from 'node:fs';
import { Command, Option } from 'commander';
import { InvalidInputError } from '../../io/errors.js';
import { MAX_RESAMPLES } from '../../evals/preferred-strength.js';
import { parseRatingsText, PREFERENCE_DIMENSIONS, strengthPreference, type PreferenceDimension, type StrengthPreference } from '../../evals/rating-preference.js';
import { loadVector } from '../../steering/vector-file.js';
import type { VectorMeta } from '../../steering/vector.js';
import { jsonOption, parseIntStrict, readTextFile, runAction, withFileFlags } from '../common.js';

/** `steerer ratings fit`: the strength people prefer for a vector, offline, from exported ratings. */

interface FitFlags {
  ratings: string;
  vector: string;
  dimension: PreferenceDimension;
  resamples: string;
  seed: string;
  json?: boolean;
}

/** Largest ratings file read (the export of a very busy studio is far below it). */
const MAX_RATINGS_BYTES = 256 * 1024 * 1024;

export function ratingsCommand(): Command {
  const fit = new Command('fit')
    .description('the strength people prefer for a vector: Bradley-Terry over the coefficients of rated replies, beside its automatic recommendation')
    .requiredOption('--ratings <file>', 'ratings as JSONL (GET /v1/ratings/export, or POST /v1/ratings bodies), or the JSON of GET /v1/ratings')
    .requiredOption('--vector <name>', "the vector as the ratings' specs name it; a vector file is matched by its base name and its recommendation shown beside")
    .addOption(new Option('--dimension <which>', 'the outcome: overall (both questions, half a comparison each), concept or coherence').choices(PREFERENCE_DIMENSIONS).default('overall'))
    .option('--resamples <n>', `bootstrap resamples for the interval of the preferred strength (1-${MAX_RESAMPLES})`, '400')
    .option('-s, --seed <n>', 'seed of the bootstrap', '0')
    .addOption(jsonOption)
    .action(
      runAction(async (flags: FitFlags) => {
        const resamples = parseIntStrict(flags.resamples, '--resamples', 1);
        if (resamples > MAX_RESAMPLES) throw new InvalidInputError(`--resamples must be at most ${MAX_RESAMPLES}, got ${resamples}`);
        const seed = parseIntStrict(flags.seed, '--seed');
        const ratings = withFileFlags([['--ratings', flags.ratings]], () => {
          const size = fs.existsSync(flags.ratings) ? fs.statSync(flags.ratings).size : 0;
          if (size > MAX_RATINGS_BYTES) throw new InvalidInputError(`--ratings ${flags.ratings}: ${size} bytes, more than the ${MAX_RATINGS_BYTES} read`);
          return parseRatingsText(readTextFile(flags.ratings, '--ratings'), flags.ratings);
        });
        let meta: VectorMeta | undefined;
        if (fs.existsSync(flags.vector) && fs.statSync(flags.vector).isFile()) meta = withFileFlags([['--vector', flags.vector]], () => loadVector(flags.vector).meta);
        const p = strengthPreference(ratings, flags.vector, meta, { dimension: flags.dimension, resamples, seed });
        process.stdout.write(flags.json ? `${JSON.stringify(p)}\n` : preferenceText(p, meta !== undefined));
      }),
    );
  return new Command('ratings').description('human ratings collected by the studio (export them with GET /v1/ratings/export)').addCommand(fit);
}

const num = (x: number): string => String(Number(x.toPrecision(4)));
const range = (r: readonly [number, number]): string => `${num(r[0])} to ${num(r[1])}`;

function preferenceText(p: StrengthPreference, withVector: boolean): string {
  const lines: string[] = [];
  const skipped = Object.entries(p.skipped).map(([why, n]) => `${n} ${why}`);
  lines.push(`${p.vector}: ${p.n} rating${p.n === 1 ? '' : 's'} used (${p.dimension})${skipped.length ? `, skipped: ${skipped.join(', ')}` : ''}`);
  if (p.perCoefficient.length > 0) {
    lines.push('', `coefficient  comparisons  wins    strength vs ${num(p.reference ?? 0)} (95%)   fitted curve`);
    for (const c of p.perCoefficient) {
      const strength = c.coefficient === p.reference ? 'reference' : `${num(c.strength)} [${range(c.interval)}]`;
      lines.push(`${num(c.coefficient).padStart(11)}  ${num(c.comparisons).padStart(11)}  ${num(c.wins).padStart(6)}  ${strength.padEnd(27)}  ${c.curve === null ? '-' : num(c.curve)}`);
    }
    lines.push('');
  }
  if (p.preferred !== null && p.interval !== null) {
    lines.push(`preferred strength ${num(p.preferred)} (95% interval ${range(p.interval)}${p.atEdge ? '; at the end of the rated range: try beyond it' : ''}); adopted as ${p.adoptable ?? num(p.preferred)}`);
  } else lines.push(`no preferred strength: ${p.reason ?? 'too few ratings'}`);
  if (withVector) lines.push(`automatic recommendation ${p.automatic.coefficient === null ? 'none' : num(p.automatic.coefficient)} (${p.automatic.source}); recommended now ${p.recommended.coefficient === null ? 'none' : num(p.recommended.coefficient)} (${p.recommended.source})`);
  lines.push(`method: ${p.method}`);
  return `${lines.join('\n')}\n`;
}

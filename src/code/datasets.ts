/**
 * The shared code datasets as tasks: MBPP (a task in words, its tests, a solution) and HumanEval
 * (a prompt that is the function's signature and docstring, the body that solves it, a check).
 * Both are Python. Line endings are normalised to "\n" (MBPP's solutions use "\r\n").
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { z } from 'zod/v4';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import type { Located } from '../io/json-records.js';
import { mustBe, parseOr } from '../util/schemas.js';
import { sharedPath } from '../util/shared-path.js';

export const CODE_DATASETS = ['mbpp', 'humaneval'] as const;
export type CodeDataset = (typeof CODE_DATASETS)[number];

export interface CodeTask {
  /** "mbpp/11", "HumanEval/0". */
  readonly id: string;
  readonly dataset: CodeDataset;
  /** What a model is given: MBPP, the task and its first test as comments; HumanEval, its prompt. */
  readonly prompt: string;
  /** The reference completion of the prompt. */
  readonly solution: string;
  /** The reference solution as a whole program: MBPP, the solution; HumanEval, prompt + solution. */
  readonly code: string;
  /** Where `solution` starts in `code`. */
  readonly solutionStart: number;
  /** Python that raises when a program defining the solution is wrong (asserts). */
  readonly tests: string;
}

const FILES: Record<CodeDataset, readonly string[]> = {
  mbpp: ['data', 'code', 'mbpp_test.jsonl'],
  humaneval: ['data', 'code', 'HumanEval.jsonl.gz'],
};

/** Largest dataset file read (bytes, compressed or not, and after decompression). */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

export function codeDatasetPath(dataset: CodeDataset): string {
  return sharedPath(...FILES[dataset]);
}

const lf = (s: string): string => s.replace(/\r\n/g, '\n');
const text = z.string({ error: mustBe('a string') });

const MbppSchema = z.object({
  task_id: z.union([z.number().int(), z.string()], { error: mustBe('a task id') }),
  prompt: text.min(1),
  code: text.min(1),
  test: z.array(text, { error: mustBe('a list of test lines') }).min(1),
});

const HumanEvalSchema = z.object({
  task_id: text.min(1),
  prompt: text.min(1),
  canonical_solution: text.min(1),
  test: text,
  entry_point: text.regex(/^[A-Za-z_]\w*$/, 'must be a Python name'),
});

/** Comment lines of a text (every line prefixed by "# "). */
const comment = (s: string): string => `${s.split('\n').map((l) => `# ${l}`.trimEnd()).join('\n')}\n`;

function mbppTask(raw: unknown, fail: (problem: string) => never): CodeTask {
  const r = parseOr(MbppSchema, raw, fail);
  const code = lf(r.code);
  return {
    id: `mbpp/${r.task_id}`,
    dataset: 'mbpp',
    prompt: comment(`${lf(r.prompt)}\n${lf(r.test[0])}`),
    solution: code,
    code,
    solutionStart: 0,
    tests: r.test.map(lf).join('\n'),
  };
}

function humanEvalTask(raw: unknown, fail: (problem: string) => never): CodeTask {
  const r = parseOr(HumanEvalSchema, raw, fail);
  const prompt = lf(r.prompt);
  const solution = lf(r.canonical_solution);
  return { id: r.task_id, dataset: 'humaneval', prompt, solution, code: prompt + solution, solutionStart: prompt.length, tests: `${lf(r.test)}\ncheck(${r.entry_point})\n` };
}

function readMaybeGzip(file: string): string {
  let bytes: Buffer;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_FILE_BYTES) throw new ModelFileError(file, `is ${size} bytes; at most ${MAX_FILE_BYTES} are read`);
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(file, `cannot be read: ${(e as Error).message}`, { cause: e });
  }
  if (!file.endsWith('.gz')) return bytes.toString('utf8');
  try {
    return zlib.gunzipSync(bytes, { maxOutputLength: MAX_FILE_BYTES }).toString('utf8');
  } catch (e) {
    throw new ModelFileError(file, `is not valid gzip (or expands past ${MAX_FILE_BYTES} bytes): ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The tasks of a dataset: the shared copy, or `file` in the same format (MBPP JSONL with
 * prompt/code/test/task_id; HumanEval JSONL; either gzipped or not).
 */
export function readCodeTasks(dataset: CodeDataset, path?: string): CodeTask[] {
  if (!(CODE_DATASETS as readonly string[]).includes(dataset)) throw new InvalidInputError(`unknown code dataset "${dataset}": expected ${CODE_DATASETS.join(' or ')}`);
  const file = path ?? codeDatasetPath(dataset);
  const records = jsonLines(file, readMaybeGzip(file));
  const tasks = records.map((item) => {
    const fail = (problem: string): never => {
      throw new ModelFileError(file, `${item.where}: ${problem}`);
    };
    return dataset === 'mbpp' ? mbppTask(item.value, fail) : humanEvalTask(item.value, fail);
  });
  if (tasks.length === 0) throw new ModelFileError(file, 'holds no tasks');
  return tasks;
}

/** JSON lines, items named by line. */
function jsonLines(file: string, source: string): Located[] {
  const out: Located[] = [];
  source.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push({ value: JSON.parse(line) as unknown, where: `line ${i + 1}` });
    } catch (e) {
      throw new ModelFileError(file, `line ${i + 1}: not valid JSON: ${(e as Error).message.slice(0, 200)}`, { cause: e });
    }
  });
  return out;
}

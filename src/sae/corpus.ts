/**
 * Text corpora for activation collection: read documents from disk as a stream, or have
 * the model write its own corpus (resumably) when no text fits its training distribution.
 */
import fs from 'node:fs';
import { extname, join } from 'node:path';
import readline from 'node:readline';
import { InvalidInputError } from '../io/errors.js';
import { generateBatch } from '../decoding/generate.js';
import type { HookedModel } from '../runtime/model.js';
import { validateSeed } from '../runtime/rng.js';

export interface CorpusDocument {
  /** 0-based among the corpus's non-empty documents, in reading order. */
  readonly index: number;
  readonly text: string;
}

export interface ReadCorpusOptions {
  /** JSONL field holding the text (default "text"). */
  readonly field?: string;
  /** Skip the first N documents (resume). */
  readonly skip?: number;
  /** Yield at most N documents. */
  readonly limit?: number;
}

const CORPUS_EXTENSIONS = new Set(['.txt', '.jsonl']);

/**
 * Streams documents from a `.jsonl` file (one per line, from `field`), any other file
 * (paragraphs separated by blank lines), or a directory (its .txt/.jsonl files in sorted
 * order, indices continuing). Empty documents are dropped and get no index.
 */
export async function* readCorpus(path: string, opts: ReadCorpusOptions = {}): AsyncGenerator<CorpusDocument> {
  const field = opts.field ?? 'text';
  const skip = opts.skip ?? 0;
  const limit = opts.limit ?? Infinity;
  if (!Number.isInteger(skip) || skip < 0) throw new InvalidInputError(`skip must be a non-negative integer, got ${skip}`);
  if (limit !== Infinity && (!Number.isInteger(limit) || limit < 0)) throw new InvalidInputError(`limit must be a non-negative integer, got ${limit}`);
  if (limit === 0) return;
  let index = 0;
  for (const file of corpusFiles(path)) {
    const docs = extname(file).toLowerCase() === '.jsonl' ? jsonlDocuments(file, field) : paragraphDocuments(file);
    for await (const text of docs) {
      const i = index++;
      if (i < skip) continue;
      yield { index: i, text };
      if (i + 1 - skip >= limit) return;
    }
  }
}

function corpusFiles(path: string): string[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InvalidInputError(`corpus ${path}: ${code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  if (!st.isDirectory()) return [path];
  const files = fs
    .readdirSync(path)
    .filter((n) => CORPUS_EXTENSIONS.has(extname(n).toLowerCase()))
    .sort()
    .map((n) => join(path, n));
  if (files.length === 0) throw new InvalidInputError(`corpus ${path}: the directory has no .txt or .jsonl files`);
  return files;
}

/** Lines of a file as a stream; the line reader is closed when the consumer stops early. */
async function* lines(file: string): AsyncGenerator<string> {
  const rl = readline.createInterface({ input: fs.createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let first = true;
  try {
    for await (const line of rl) {
      yield first && line.charCodeAt(0) === 0xfeff ? line.slice(1) : line;
      first = false;
    }
  } catch (e) {
    throw new InvalidInputError(`corpus ${file}: cannot be read: ${(e as Error).message}`);
  } finally {
    rl.close();
  }
}

async function* jsonlDocuments(file: string, field: string): AsyncGenerator<string> {
  let lineNo = 0;
  for await (const line of lines(file)) {
    lineNo++;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new InvalidInputError(`corpus ${file} line ${lineNo}: not valid JSON`);
    }
    const text = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[field] : undefined;
    if (typeof text !== 'string') throw new InvalidInputError(`corpus ${file} line ${lineNo}: no string field "${field}"`);
    if (text.trim() !== '') yield text;
  }
}

/** Paragraphs: runs of non-blank lines (wikitext's blank lines are a single space), joined by newlines and trimmed. */
async function* paragraphDocuments(file: string): AsyncGenerator<string> {
  let paragraph: string[] = [];
  for await (const line of lines(file)) {
    if (line.trim() !== '') {
      paragraph.push(line);
      continue;
    }
    if (paragraph.length > 0) yield paragraph.join('\n').trim();
    paragraph = [];
  }
  if (paragraph.length > 0) yield paragraph.join('\n').trim();
}

// ---------------------------------------------------------------------------------------------
// Self-generated corpus

export interface GenerateCorpusOptions {
  /** Documents the file should hold in the end. */
  readonly count: number;
  /** New tokens per document at most (default 256). */
  readonly maxTokens?: number;
  /** Default 1: sample the model's own distribution. */
  readonly temperature?: number;
  /** Document i is sampled with seed + i (default seed 0), so the corpus does not depend on interruptions. */
  readonly seed?: number;
  /** Text every document starts with (default '': start from BOS alone). */
  readonly prompt?: string;
  /** Documents per generation batch (default 8). */
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Writes the model's own generations as JSONL ({"text": ...} per line, prompt included).
 * Resumable: documents already in the file are kept and only the rest are generated;
 * a partial last line (a crash mid-write) is cut off first.
 */
export async function generateCorpus(model: HookedModel, file: string, opts: GenerateCorpusOptions): Promise<{ generated: number; total: number }> {
  const { count } = opts;
  const maxTokens = opts.maxTokens ?? 256;
  const batchSize = opts.batchSize ?? 8;
  const seed = opts.seed ?? 0;
  const prompt = opts.prompt ?? '';
  if (!Number.isInteger(count) || count < 0) throw new InvalidInputError(`count must be a non-negative integer, got ${count}`);
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new InvalidInputError(`maxTokens must be a positive integer, got ${maxTokens}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidInputError(`batchSize must be a positive integer, got ${batchSize}`);
  validateSeed(seed);

  const { spec } = model;
  const bos = spec.bosTokenId;
  // An empty prompt means "from the start of a document": BOS alone, even where prompts normally get none.
  let promptIds: number[];
  if (prompt === '') {
    if (bos === undefined) throw new InvalidInputError('the model has no BOS token to start from: give a prompt');
    promptIds = [bos];
  } else {
    promptIds = model.encode(prompt);
  }
  const textIds = promptIds[0] === bos && bos !== undefined ? promptIds.slice(1) : promptIds;

  const done = completeLines(file);
  let written = done;
  opts.onProgress?.(Math.min(written, count), count);
  while (written < count) {
    const n = Math.min(batchSize, count - written);
    // generateBatch seeds row r with seed + r, so row r here is document written + r.
    const results = await generateBatch(model, Array.from({ length: n }, () => promptIds), {
      maxTokens,
      temperature: opts.temperature ?? 1,
      seed: seed + written,
    });
    // Decoding prompt and continuation together keeps the spacing between them right.
    const lines = results.map((r) => `${JSON.stringify({ text: model.tokenizer.decode([...textIds, ...r.tokens]) })}\n`);
    fs.appendFileSync(file, lines.join(''));
    written += n;
    opts.onProgress?.(written, count);
  }
  return { generated: written - done, total: written };
}

/**
 * Complete (newline-terminated) lines in `file`, cutting off a trailing partial line.
 * A missing file has none. Reads in chunks so a large corpus is never held in memory.
 */
function completeLines(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new InvalidInputError(`corpus ${file}: cannot be read: ${(e as Error).message}`);
  }
  let lines = 0;
  let end = 0; // byte just after the last newline
  let size = 0;
  try {
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const got = fs.readSync(fd, buf, 0, buf.length, size);
      if (got === 0) break;
      for (let i = 0; i < got; i++) {
        if (buf[i] === 10) {
          lines++;
          end = size + i + 1;
        }
      }
      size += got;
    }
  } finally {
    fs.closeSync(fd);
  }
  if (end < size) fs.truncateSync(file, end);
  return lines;
}

import { readFileSync } from 'node:fs';
import { ModelFileError } from './errors.js';

/** Where a record came from, for error messages. */
export interface Located<T = unknown> {
  readonly value: T;
  /** "item 3" / "line 7" */
  readonly where: string;
}

export function readText(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModelFileError(file, `cannot be read: ${(e as Error).message}`, { cause: e });
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function lineOf(text: string, position: number): number {
  let line = 1;
  for (let i = 0; i < position && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** JSON.parse quotes the offending text, newlines included; errors stay one line. */
function oneLine(message: string): string {
  return message.replace(/\s+/g, ' ').slice(0, 200);
}

export function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    throw new ModelFileError(file, `${pos ? `line ${lineOf(text, Number(pos[1]))}: ` : ''}not valid JSON: ${oneLine(msg)}`, { cause: e });
  }
}

/** A JSON array (items named by index) or JSON lines (items named by line). */
export function readRecords(file: string): Located[] {
  const text = readText(file);
  const trimmed = text.trimStart();
  if (trimmed === '') throw new ModelFileError(file, 'is empty');
  if (trimmed.startsWith('[')) {
    const data = parseJson(file, text);
    if (!Array.isArray(data)) throw new ModelFileError(file, 'expected a JSON array');
    return data.map((value: unknown, i) => ({ value, where: `item ${i}` }));
  }
  if (!trimmed.startsWith('{')) throw new ModelFileError(file, 'expected a JSON array of objects or JSON lines (one object per line)');
  if (trimmed.trimEnd().includes('\n')) {
    // One pretty-printed object is one item; otherwise it is JSON lines.
    try {
      return [{ value: JSON.parse(text) as unknown, where: 'item 0' }];
    } catch {
      // JSON lines: parsed below, line by line.
    }
  }
  const out: Located[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    try {
      out.push({ value: JSON.parse(line), where: `line ${i + 1}` });
    } catch (e) {
      throw new ModelFileError(file, `line ${i + 1}: not valid JSON: ${oneLine((e as Error).message)}`, { cause: e });
    }
  });
  return out;
}

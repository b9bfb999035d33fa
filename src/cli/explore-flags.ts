import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../io/files.js';
import { InvalidInputError } from '../io/errors.js';
import { parseLayerList } from '../steering/shorthand.js';

/**
 * --positions of the exploration commands (lens, patch): "all", "last", or token indices as
 * N, N-M and "last" in a comma list, checked against a text of `length` tokens (BOS, when the
 * model prepends one, is position 0). undefined = every position.
 */
export function parsePositionList(value: string, length: number): number[] | undefined {
  const text = value.trim().toLowerCase();
  if (text === 'all') return undefined;
  const out = new Set<number>();
  for (const part of text.split(',')) {
    if (part.trim() === 'last') {
      out.add(length - 1);
      continue;
    }
    const list = parseLayerList(part, {
      limit: length,
      flag: '--positions',
      alsoAccepted: '"all" or "last"',
      outOfRange: (p) => `--positions ${p} is past the text's ${length} tokens (positions 0..${length - 1}; "last" is ${length - 1})`,
    });
    for (const p of list) out.add(p);
  }
  return [...out].sort((a, b) => a - b);
}

/** Fixed-width text table; columns after the first are aligned to the right (numbers) or left. */
export function textTable(rows: readonly (readonly string[])[], align: 'left' | 'right' = 'right'): string {
  const width = (s: string): number => [...s].length;
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => width(r[c] ?? ''))));
  const pad = (cell: string, c: number): string => {
    const fill = ' '.repeat(widths[c] - width(cell));
    return c === 0 || align === 'left' ? cell + fill : fill + cell;
  };
  return rows.map((r) => r.map(pad).join('  ').trimEnd()).join('\n');
}

/** Writes a text file atomically, creating its folder. */
export function writeTextFile(file: string, text: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const bytes = new TextEncoder().encode(text);
  writeFileAtomic(file, (w) => w(bytes));
}

export function nonEmptyText(value: string, flag: string): string {
  if (value.trim() === '') throw new InvalidInputError(`${flag} is empty`);
  return value;
}

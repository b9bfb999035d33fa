import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** The package root: the nearest directory upward holding package.json (works from src/ and dist/). */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return (cachedRoot = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/**
 * The shared models/data directory: $STEERER_SHARED if set (relative paths taken from the
 * package root, like the default), else ../shared beside the package root.
 */
export function sharedDir(): string {
  const env = process.env.STEERER_SHARED;
  if (env !== undefined && env !== '') return isAbsolute(env) ? env : resolve(packageRoot(), env);
  return resolve(packageRoot(), '..', 'shared');
}

export function sharedPath(...parts: string[]): string {
  return join(sharedDir(), ...parts);
}

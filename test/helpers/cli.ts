import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../src/util/shared-path.js';

export interface CliResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number | null;
}

// `npm test` runs the type check's output (src/ and test/ compiled side by side in one folder),
// so compiled tests start the CLI compiled beside them: current code, no TypeScript loader (about
// 0.6 s a start) and no separate build. A test file run alone from the sources uses tsx.
const compiled = import.meta.url.endsWith('.js');

/** A module of the CLI: compiled beside these tests when they are compiled, else the source. */
export function cliFile(name: 'main' | 'program'): string {
  return compiled ? fileURLToPath(new URL(`../../src/cli/${name}.js`, import.meta.url)) : path.join(packageRoot(), `src/cli/${name}.ts`);
}

/** Node arguments that start the CLI (the loader resolved from this package: the working directory may be a temp folder). */
export function cliArgs(): string[] {
  return compiled ? [cliFile('main')] : ['--import', import.meta.resolve('tsx'), cliFile('main')];
}

/** Runs the CLI in `cwd`. */
export function steererIn(cwd: string): (...args: string[]) => CliResult {
  return (...args) => {
    const r = spawnSync(process.execPath, [...cliArgs(), ...args], { encoding: 'utf8', cwd });
    return { stdout: r.stdout, stderr: r.stderr, status: r.status };
  };
}

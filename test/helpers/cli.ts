import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../src/util/shared-path.js';

export interface CliResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number | null;
}

/**
 * Node arguments that start the CLI: the build `npm test` has just made (STEERER_TEST_DIST=1,
 * about 0.6 s faster a start), else the sources through tsx (resolved from this package, since
 * the working directory may be a temp folder), so a single test file always runs current code.
 */
export function cliArgs(): string[] {
  if (process.env.STEERER_TEST_DIST === '1') return [path.join(packageRoot(), 'dist/cli/main.js')];
  return ['--import', import.meta.resolve('tsx'), path.join(packageRoot(), 'src/cli/main.ts')];
}

/** Runs the CLI in `cwd`. */
export function steererIn(cwd: string): (...args: string[]) => CliResult {
  return (...args) => {
    const r = spawnSync(process.execPath, [...cliArgs(), ...args], { encoding: 'utf8', cwd });
    return { stdout: r.stdout, stderr: r.stderr, status: r.status };
  };
}

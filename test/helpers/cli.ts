import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../src/util/shared-path.js';

export interface CliResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number | null;
}

/** Runs the CLI from source in `cwd` (tsx resolved from this package, since cwd may be a temp folder). */
export function steererIn(cwd: string): (...args: string[]) => CliResult {
  return (...args) => {
    const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(packageRoot(), 'src/cli/main.ts'), ...args], { encoding: 'utf8', cwd });
    return { stdout: r.stdout, stderr: r.stderr, status: r.status };
  };
}

import os from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/**
 * Where Steerer keeps files it can always make again (weights repacked for ONNX Runtime, their
 * graphs): $STEERER_CACHE_DIR, else $XDG_CACHE_HOME/steerer, else ~/.cache/steerer.
 */
export function cacheDir(...parts: string[]): string {
  const env = process.env.STEERER_CACHE_DIR;
  const xdg = process.env.XDG_CACHE_HOME;
  const root =
    env !== undefined && env !== ''
      ? resolve(env)
      : xdg !== undefined && xdg !== '' && isAbsolute(xdg)
        ? join(xdg, 'steerer')
        : join(os.homedir(), '.cache', 'steerer');
  return join(root, ...parts);
}

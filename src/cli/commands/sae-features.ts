import type { Command } from 'commander';

/** `steerer sae features|search|card`. */
export function saeFeatureCommands(): Command[] {
  return [];
}

import { Command, Option } from 'commander';

/**
 * Second spellings of options, hidden from --help: an old name kept working after a rename,
 * or llama.cpp's name for the same idea. An alias writes the value of the option it stands
 * for (commander keys values by attributeName), so the command code reads one field.
 */
export class AliasOption extends Option {
  constructor(
    names: string,
    readonly target: Option,
  ) {
    // The alias takes the same argument as its target (`<n>`, `<text...>`), choices and parser included.
    super(`${names}${argumentOf(target)}`, `same as ${target.long}`);
    this.hideHelp();
    if (target.argChoices) this.argChoices = [...target.argChoices];
    if (target.parseArg) this.parseArg = target.parseArg;
  }

  override attributeName(): string {
    return this.target.attributeName();
  }
}

function argumentOf(option: Option): string {
  const arg = /\s[<[].*$/.exec(option.flags);
  return arg ? arg[0] : '';
}

/** An old spelling that keeps working after `target` was renamed. */
export function oldSpelling(names: string, target: Option): AliasOption {
  return new AliasOption(names, target);
}

/**
 * llama.cpp's spellings of options we name differently (llama-cli, llama-server,
 * llama-perplexity), with their short flags. Given on every command that has the option.
 */
export const LLAMA_CPP_ALIASES: readonly { readonly option: string; readonly long?: string; readonly short?: string }[] = [
  { option: '--temperature', long: '--temp' },
  { option: '--repetition-penalty', long: '--repeat-penalty' },
  { option: '--max-tokens', long: '--n-predict', short: '-n' },
  { option: '--context', long: '--ctx-size', short: '-c' },
  { option: '--prompt-file', long: '--file', short: '-f' },
  { option: '--seed', short: '-s' },
  { option: '--system', long: '--system-prompt' },
  // llama-server's --api-key is the bearer token clients must send.
  { option: '--token', long: '--api-key' },
  { option: '--threads', short: '-t' },
  { option: '--prompt', short: '-p' },
  { option: '--model', short: '-m' },
];

/**
 * Adds the llama.cpp spellings to every command of the tree that has the option (visible
 * ones only: a hidden old spelling may reuse a name for something else). A short flag the
 * option already has, or that the command uses for another option, is not added again.
 */
export function addLlamaCppAliases(cmd: Command): void {
  for (const rule of LLAMA_CPP_ALIASES) {
    const target = cmd.options.find((o) => !o.hidden && o.long === rule.option);
    if (!target) continue;
    const taken = (flag: string): boolean => cmd.options.some((o) => o.short === flag || o.long === flag);
    const names = [
      ...(rule.short && target.short !== rule.short && !taken(rule.short) ? [rule.short] : []),
      ...(rule.long && !taken(rule.long) ? [rule.long] : []),
    ];
    if (names.length > 0) cmd.addOption(new AliasOption(names.join(', '), target));
  }
  for (const sub of cmd.commands) addLlamaCppAliases(sub);
}

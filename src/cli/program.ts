import { Command } from 'commander';
import { addLlamaCppAliases } from './flag-aliases.js';
import { activationsCommand } from './commands/activations.js';
import { codeCommand } from './commands/code.js';
import { evalCommand } from './commands/eval.js';
import { generateCommand } from './commands/generate.js';
import { indexCommand } from './commands/index.js';
import { inspectCommand } from './commands/inspect.js';
import { lensCommand } from './commands/lens.js';
import { patchCommand } from './commands/patch.js';
import { perplexityCommand } from './commands/perplexity.js';
import { probeCommand } from './commands/probe.js';
import { ratingsCommand } from './commands/ratings.js';
import { saeCommand } from './commands/sae.js';
import { serveCommand } from './commands/serve.js';
import { vectorCommand } from './commands/vector.js';

/** The whole CLI as one commander tree, built without parsing (tests walk its options). */
export function buildProgram(): Command {
  const program = new Command('steerer')
    .description('Look inside local language models and steer them through their activations.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');
  program.addCommand(generateCommand());
  program.addCommand(perplexityCommand());
  program.addCommand(activationsCommand());
  program.addCommand(inspectCommand());
  program.addCommand(vectorCommand());
  program.addCommand(evalCommand());
  program.addCommand(saeCommand());
  program.addCommand(indexCommand());
  program.addCommand(probeCommand());
  program.addCommand(lensCommand());
  program.addCommand(patchCommand());
  program.addCommand(codeCommand());
  program.addCommand(ratingsCommand());
  program.addCommand(serveCommand());
  addLlamaCppAliases(program);
  return program;
}

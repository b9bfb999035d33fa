#!/usr/bin/env node
import { Command } from 'commander';
import { activationsCommand } from './commands/activations.js';
import { evalCommand } from './commands/eval.js';
import { generateCommand } from './commands/generate.js';
import { inspectCommand } from './commands/inspect.js';
import { perplexityCommand } from './commands/perplexity.js';
import { probeCommand } from './commands/probe.js';
import { saeCommand } from './commands/sae.js';
import { serveCommand } from './commands/serve.js';
import { vectorCommand } from './commands/vector.js';

// A closed pipe (e.g. `steerer ... | head`) ends the program quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

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
program.addCommand(probeCommand());
program.addCommand(serveCommand());

await program.parseAsync(process.argv);

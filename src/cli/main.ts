#!/usr/bin/env node
import { buildProgram } from './program.js';

// A closed pipe (e.g. `steerer ... | head`) ends the program quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

await buildProgram().parseAsync(process.argv);

#!/usr/bin/env node
/** Entry of the `gluon` command (bin/gluon.mjs imports it; `npm run gluon -- …` runs it). */
import { runCli } from './program.ts';

// `gluon tasks | head` closes the pipe early: stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await runCli(process.argv.slice(2));

import type { Command } from 'commander';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderPilotsTable } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, printJson } from './common.ts';

export function registerPilots(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('pilots')
      .description('list pilots: id, site, host, pid, state, jobs run, last heartbeat'),
  )
    .addHelpText(
      'after',
      '\n--json prints an array of pilots (pilotId, siteId, host, pid, state, jobsRun, …).',
    )
    .action(async (options: CommonOptions) => {
      const pilots = await clientFor(io, options).all('listPilots', { query: { limit: 1000 } });
      if (options.json) printJson(io, pilots);
      else writeLine(io.stdout, renderPilotsTable(pilots));
    });
}

import type { Command } from 'commander';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderPilotsTable } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, printJson } from './common.ts';

export function registerPilots(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('pilots')
      .description(
        'list pilots: id, site, host, pid, state, jobs run, last heartbeat; for cloud pilots their instance type, market and $/h',
      ),
  )
    .addHelpText(
      'after',
      "\n$/H is a cloud pilot's part of its instance's hourly price (its share when pilots share an instance),\n" +
        'fixed at registration from the dated price table or the Spot price history.\n' +
        '--json prints an array of pilots (pilotId, siteId, host, pid, state, jobsRun, cloud, cost, …).',
    )
    .action(async (options: CommonOptions) => {
      const pilots = await clientFor(io, options).all('listPilots', { query: { limit: 1000 } });
      if (options.json) printJson(io, pilots);
      else writeLine(io.stdout, renderPilotsTable(pilots));
    });
}

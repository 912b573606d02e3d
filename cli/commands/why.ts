import type { Command } from 'commander';
import { type CliContext, writeLine } from '../cli-io.ts';
import { renderTable } from '../render.ts';
import { addCommonOptions, type CommonOptions, clientFor, printJson } from './common.ts';

/** `gluon why TASK`: why the task's jobs are pending, in words, and the facts per site. */
export function registerWhy(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('why')
      .argument('<task>', 'task id')
      .description("why is my job pending: what holds the task's jobs back, site by site"),
  ).action(async (taskId: string, options: CommonOptions) => {
    const why = await clientFor(io, options).call('explainTask', { params: { taskId } });
    if (options.json) {
      printJson(io, why);
      return;
    }
    writeLine(io.stdout, `Task ${why.taskId}: ${why.state}`);
    for (const finding of why.findings) writeLine(io.stdout, `  - ${finding}`);
    writeLine(io.stdout);
    writeLine(
      io.stdout,
      renderTable(
        [
          'SITE',
          'USED',
          'STATUS',
          'QUEUED MSGS',
          'PILOTS (idle/busy/starting)',
          'MAX PILOTS',
          'NOT USED BECAUSE',
        ],
        why.sites.map((s) => [
          s.siteId,
          s.chosen ? 'yes' : 'no',
          s.status ?? '-',
          s.queuedJobs === undefined ? '-' : String(s.queuedJobs),
          s.pilots === undefined ? '-' : `${s.pilots.idle}/${s.pilots.busy}/${s.pilots.starting}`,
          s.maxPilots === undefined ? '-' : String(s.maxPilots),
          s.rejected ?? '',
        ]),
      ),
    );
  });
}

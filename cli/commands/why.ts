import type { Command } from 'commander';
import type { JobExplanation, TaskExplanation } from '#core/api/tasks.ts';
import { type CliContext, type CliIo, writeLine } from '../cli-io.ts';
import { renderTable } from '../render.ts';
import {
  addCommonOptions,
  type CommonOptions,
  checkTaskId,
  clientFor,
  parseJobIndex,
  printJson,
} from './common.ts';

/**
 * `gluon why TASK`: why the task's jobs are pending, in words, brokerage's decision and the facts
 * per site; `gluon why TASK --job N`: where job N was sent and why, and what holds it.
 */
export function registerWhy(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('why')
      .argument('<task>', 'task id (t-…)')
      .option('--job <index>', 'explain one job (its index, from 0)', parseJobIndex)
      .description(
        "why is my job pending, why did it go there: brokerage's decision and what holds the jobs",
      ),
  )
    .addHelpText(
      'after',
      [
        '',
        'Without --job: the findings for the task, then one line per site: whether brokerage chose it',
        "and its weight (its part of the task's jobs), or the filter that rejected it and why",
        '(status, lists, resources, features, capacity, queue, failures); for chosen sites their',
        'status, queued job messages and pilots now.',
        'With --job N: where job N was sent and why, each attempt it had, and for a queued job why no',
        'pilot has taken it yet (site offline or in test, no pilot that can run it, no pilot yet,',
        'pilots busy, the task paused).',
      ].join('\n'),
    )
    .action(async (taskId: string, options: CommonOptions & { job?: number }) => {
      checkTaskId(taskId);
      const client = clientFor(io, options);
      if (options.job !== undefined) {
        const why = await client.call('explainJob', { params: { taskId, jobIndex: options.job } });
        if (options.json) printJson(io, why);
        else printJobExplanation(io, why);
        return;
      }
      const why = await client.call('explainTask', { params: { taskId } });
      if (options.json) printJson(io, why);
      else printTaskExplanation(io, why);
    });
}

function printTaskExplanation(io: CliIo, why: TaskExplanation): void {
  writeLine(io.stdout, `Task ${why.taskId}: ${why.state}`);
  for (const finding of why.findings) writeLine(io.stdout, `  - ${finding}`);
  writeLine(io.stdout);
  writeLine(
    io.stdout,
    renderTable(
      [
        'SITE',
        'USED',
        'WEIGHT',
        'STATUS',
        'QUEUED MSGS',
        'PILOTS (idle/busy/starting)',
        'MAX PILOTS',
        'REJECTED BY',
      ],
      why.sites.map((s) => [
        s.siteId,
        s.chosen ? 'yes' : 'no',
        s.weight === undefined ? '-' : `${Math.round(s.weight * 1000) / 10}%`,
        s.status ?? '-',
        s.queuedJobs === undefined ? '-' : String(s.queuedJobs),
        s.pilots === undefined ? '-' : `${s.pilots.idle}/${s.pilots.busy}/${s.pilots.starting}`,
        s.maxPilots === undefined ? '-' : String(s.maxPilots),
        s.rejected === undefined ? '' : `${s.filter === undefined ? '' : `${s.filter}: `}${s.rejected}`,
      ]),
    ),
  );
  const waived = why.brokerage?.waived ?? [];
  if (waived.length > 0) {
    writeLine(io.stdout);
    writeLine(io.stdout, 'Chosen although (no other site could take the jobs):');
    for (const w of waived) writeLine(io.stdout, `  - ${w.siteId}: ${w.filter}: ${w.reason}`);
  }
}

function printJobExplanation(io: CliIo, why: JobExplanation): void {
  const at = why.siteId === undefined ? '' : ` at ${why.siteId}`;
  writeLine(
    io.stdout,
    `Job ${why.jobIndex} of task ${why.taskId}: ${why.state}, attempt ${why.attempt}${at}`,
  );
  for (const finding of why.findings) writeLine(io.stdout, `  - ${finding.message}`);
}

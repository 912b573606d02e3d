import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ResubmitTaskRequest, ResubmitTaskResponse } from '#core/api/tasks.ts';
import { JOB_SELECTION, RESUBMIT_STATES } from '#core/tasks/job-selection.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import {
  addCommonOptions,
  type CommonOptions,
  checkTaskId,
  clientFor,
  parsePositiveInt,
  parsePositiveSeconds,
  printJson,
} from './common.ts';
import { runWatch } from './status.ts';

interface ResubmitOptions extends CommonOptions {
  jobs?: string;
  state?: ResubmitTaskRequest['state'];
  memoryMb?: number;
  walltimeSec?: number;
  sites?: string[];
  watch?: boolean;
  interval?: number;
}

function jobsArg(value: string): string {
  const jobs = value.replace(/\s+/g, '');
  if (!JOB_SELECTION.test(jobs)) throw new InvalidArgumentError('job indexes and ranges, e.g. 3,7-9');
  return jobs;
}

function sitesArg(value: string): string[] {
  const sites = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (sites.length === 0) throw new InvalidArgumentError('site ids separated by commas, e.g. cern,fnal');
  return sites;
}

function describe(taskId: string, answer: ResubmitTaskResponse, what: string): string {
  const already =
    answer.alreadyResubmitted > 0 ? `; ${answer.alreadyResubmitted} already resubmitted before` : '';
  if (answer.jobs === 0) return `task ${taskId}: no ${what} to resubmit${already} (it is ${answer.state})`;
  const jobs = `${answer.jobs} job${answer.jobs === 1 ? '' : 's'}`;
  return `task ${taskId}: ${jobs} resubmitted to ${answer.siteIds.join(', ')}${already}; ${
    answer.reopened ? 'the task is running again' : 'the task runs on'
  } (gluon status ${taskId} --watch)`;
}

/** `gluon resubmit`: the owner runs ended jobs of a task again, with new resources or sites. */
export function registerResubmit(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('resubmit')
      .description(
        'run ended jobs of a task again (its failed jobs unless told otherwise), with new memory, walltime or sites',
      )
      .argument('<task>', 'task id (t-…)')
      .addOption(
        new Option('--jobs <list>', 'the jobs to run again, by index: e.g. 3,7-9 (at most 5000)')
          .argParser(jobsArg)
          .conflicts('state'),
      )
      .addOption(
        new Option('--state <state>', 'every job in this state (default: failed)').choices(RESUBMIT_STATES),
      )
      .option(
        '--memory-mb <mb>',
        'memory each job asks for, in MB (a site slot must have it)',
        parsePositiveInt,
      )
      .option(
        '--walltime-sec <seconds>',
        'walltime each job asks for, in seconds (a site slot must have it)',
        parsePositiveInt,
      )
      .option(
        '--sites <list>',
        'the sites the jobs may go to instead of the spec’s: e.g. cern,fnal',
        sitesArg,
      )
      .option('--watch', 'then follow the task until it ends again; exit 0 only if it ends done')
      .option('--interval <sec>', 'seconds between refreshes with --watch', parsePositiveSeconds, 1),
  )
    .addHelpText(
      'after',
      [
        '',
        'Each job runs again as its next attempt, with the task’s maxAttempts afresh; `gluon job`',
        'shows the attempts it had. Failed jobs and jobs killed with `gluon kill` can be resubmitted',
        'at any time; finished ones (chosen with --jobs) once the task has ended. A task that ended',
        '(done, partial or failed) runs again and ends when these jobs end. A cancelled task or an',
        'event-service task cannot be resubmitted. Giving the same resubmit again changes nothing.',
        '',
        'Examples:',
        '  gluon resubmit t-01jd3k… --memory-mb 4000 --watch   # the failed jobs, with 4 GB',
        '  gluon resubmit t-01jd3k… --jobs 3,7-9 --sites cern  # these jobs, at CERN',
      ].join('\n'),
    )
    .action(async (taskId: string, options: ResubmitOptions) => {
      checkTaskId(taskId);
      const client = clientFor(io, options);
      const body: ResubmitTaskRequest = {
        ...(options.jobs === undefined ? {} : { jobs: options.jobs }),
        ...(options.state === undefined ? {} : { state: options.state }),
        ...(options.memoryMb === undefined ? {} : { memoryMB: options.memoryMb }),
        ...(options.walltimeSec === undefined ? {} : { walltimeSec: options.walltimeSec }),
        ...(options.sites === undefined ? {} : { sites: options.sites }),
      };
      const answer = await client.call('resubmitTask', { params: { taskId }, body });
      if (options.json && !options.watch) printJson(io, answer);
      else if (!options.json)
        writeLine(
          io.stdout,
          describe(
            taskId,
            answer,
            options.jobs === undefined ? `${options.state ?? 'failed'} job` : 'chosen job',
          ),
        );
      if (options.watch && answer.jobs > 0) {
        ctx.exitCode = await runWatch(io, client, taskId, {
          ...(options.json === undefined ? {} : { json: options.json }),
          intervalSec: options.interval ?? 1,
        });
      }
    });
}

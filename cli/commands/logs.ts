import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../cli-io.ts';
import {
  addCommonOptions,
  type CommonOptions,
  checkTaskId,
  clientFor,
  parseJobIndex,
  parsePositiveInt,
  printJson,
} from './common.ts';

/** `gluon logs TASK --job N [--attempt A]`: the payload log of one attempt, fetched from S3. */
export function registerLogs(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('logs')
      .description("print one attempt's log: the pilot's notes and the payload's stdout and stderr")
      .argument('<task>', 'task id (t-…)')
      .requiredOption('--job <index>', 'the job (its index, from 0)', parseJobIndex)
      .option('--attempt <n>', 'the attempt (default: the last one that ended)', parsePositiveInt),
  )
    .addHelpText(
      'after',
      `
The log is uploaded by the pilot when the attempt ends, so a running attempt has none yet;
\`gluon job TASK N\` lists the attempts. --json prints the API's answer (a presigned download
URL, valid for an hour) instead of the log.

Examples:
  gluon logs t-01jd3k7q2x --job 17
  gluon logs t-01jd3k7q2x --job 17 --attempt 1 | grep -i error`,
    )
    .action(async (taskId: string, options: CommonOptions & { job: number; attempt?: number }) => {
      checkTaskId(taskId);
      const answer = await clientFor(io, options).call('getJobLog', {
        params: { taskId, jobIndex: options.job },
        query: options.attempt === undefined ? {} : { attempt: options.attempt },
      });
      if (options.json) {
        printJson(io, answer);
        return;
      }
      const response = await (io.fetch ?? fetch)(answer.url);
      if (!response.ok || response.body === null) {
        await response.body?.cancel();
        throw new CliError(
          `download of the log of attempt ${answer.attempt} of job ${taskId}.${options.job} failed: HTTP ${response.status}`,
        );
      }
      const decoder = new TextDecoder();
      for await (const chunk of response.body) io.stdout.write(decoder.decode(chunk, { stream: true }));
      io.stdout.write(decoder.decode());
    });
}

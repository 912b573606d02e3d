import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import type { TaskOutput } from '#core/api/results.ts';
import { CliError } from '../cli-error.ts';
import { type CliContext, writeLine } from '../cli-io.ts';
import { type DownloadResult, downloadFile, formatBytes, progressPrinter } from '../download-file.ts';
import {
  addCommonOptions,
  type CommonOptions,
  checkTaskId,
  clientFor,
  parseJobIndex,
  printJson,
} from './common.ts';

const OUTCOME_WORDS: Record<DownloadResult['outcome'], string> = {
  downloaded: 'downloaded',
  resumed: 'resumed',
  skipped: 'already complete',
};

/** `gluon outputs TASK [--job N] [--dest DIR]`: a task's outputs, verified, resumable. */
export function registerOutputs(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('outputs')
      .description(
        "download a task's outputs (or one job's), verified by adler32; an interrupted download resumes",
      )
      .argument('<task>', 'task id (t-…)')
      .option('--job <index>', 'only this job’s outputs (its index, from 0)', parseJobIndex)
      .option('--dest <dir>', 'where to put them (default: ./<task>/)'),
  )
    .addHelpText(
      'after',
      `
Each output goes to DIR/<job index>/<name>. Bytes arrive in <name>.part, which is renamed
once its size and adler32 match what the pilot recorded. Run the command again after an
interruption: a .part is resumed with an HTTP Range request, and files already complete
are not fetched again. A checksum mismatch is an error naming the file (its .part is removed,
so the next run starts it afresh). Progress goes to stderr; --json prints what was done.

Examples:
  gluon outputs t-01jd3k7q2x
  gluon outputs t-01jd3k7q2x --job 17 --dest /data/zmumu`,
    )
    .action(async (taskId: string, options: CommonOptions & { job?: number; dest?: string }) => {
      checkTaskId(taskId);
      const client = clientFor(io, options);
      const dest = resolve(io.cwd, options.dest ?? taskId);
      const { outputs } = await client.call('listTaskOutputs', {
        params: { taskId },
        query: options.job === undefined ? {} : { index: options.job },
      });
      if (outputs.length === 0) {
        writeLine(
          io.stderr,
          `${options.job === undefined ? `task ${taskId}` : `job ${taskId}.${options.job}`} has no outputs (yet)`,
        );
      }
      const done: Array<TaskOutput & DownloadResult & { path: string }> = [];
      const failures: string[] = [];
      for (const output of outputs) {
        const path = join(dest, String(output.index), output.name);
        const label = relative(io.cwd, path) || path;
        try {
          const result = await downloadFile(
            async () =>
              (
                await client.call('getJobOutput', {
                  params: { taskId, jobIndex: output.index, name: output.name },
                })
              ).url,
            path,
            output,
            {
              ...(io.fetch === undefined ? {} : { fetch: io.fetch }),
              onProgress: progressPrinter(io.stderr, label),
            },
          );
          done.push({ ...output, ...result, path });
          writeLine(
            io.stderr,
            `${io.stderr.isTTY === true ? '\r' : ''}${label}  100% (${formatBytes(result.bytes)})  adler32 ${result.adler32}  ${OUTCOME_WORDS[result.outcome]}`,
          );
        } catch (error) {
          if (io.stderr.isTTY === true) io.stderr.write('\n');
          if (!(error instanceof CliError)) throw error;
          failures.push(error.message);
          writeLine(io.stderr, `${label}: ${error.message}`);
        }
      }
      if (options.json) printJson(io, done);
      if (failures.length > 0) {
        throw new CliError(`${failures.length} of ${outputs.length} outputs failed: ${failures.join('; ')}`);
      }
    });
}

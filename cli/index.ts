/** What other parts of Gluon (the demo, the e2e tests) may reuse of the CLI. */
export { ApiClient, type ApiClientOptions } from './api-client.ts';
export { ApiError, ApiUnreachableError, CliError } from './cli-error.ts';
export type { CliIo } from './cli-io.ts';
export { runWatch, type WatchOptions, watchTask } from './commands/status.ts';
export {
  type LocalTaskSpec,
  readTaskSpecFile,
  type SubmittedTask,
  submitTaskFile,
  uploadSandbox,
} from './commands/submit.ts';
export { type CliConfig, resolveConfig } from './config.ts';
export {
  type LocalMetaTaskSpec,
  readMetaTaskSpecFile,
  type SubmittedMetaTask,
  submitMetaTaskFile,
  uploadMetaTaskSandboxes,
} from './meta-task-file.ts';
export { runCli } from './program.ts';
export { renderProgress, renderTaskStatus, renderTaskSummary, taskTotals } from './render.ts';

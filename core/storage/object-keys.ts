/**
 * The layout of the task bucket, in one place: who may write where (CDK grants, the pilots' STS
 * session policy) and where each object goes (sandboxes, outputs, logs) all follow from it.
 *
 *   sandboxes/<owner>/<sha256>/<name>                 user sandbox files (presigned uploads; expire)
 *   inputs/…                                         input files staged by operators or users
 *   tasks/<taskId>/jobs/<jobIndex>/attempt-<n>/…      one attempt's outputs and its log
 *   tasks/<taskId>/ranges/<rangeIndex>/<pilotId>.a<n>/<output>   one event range's output
 */
export const OBJECT_PREFIXES = {
  sandboxes: 'sandboxes/',
  inputs: 'inputs/',
  tasks: 'tasks/',
} as const;

/** The one log object of an attempt: the pilot's notes and the payload's output. */
export const ATTEMPT_LOG_NAME = 'attempt.log';

/** Sandbox files are content-addressed per owner, so a resubmission uploads nothing twice. */
export function sandboxKey(owner: string, sha256: string, name: string): string {
  return `${OBJECT_PREFIXES.sandboxes}${owner}/${sha256}/${name}`;
}

/** `tasks/<taskId>/jobs/<jobIndex>/attempt-<n>/`: where one attempt's outputs and log go. */
export function attemptPrefix(taskId: string, jobIndex: number, attempt: number): string {
  return `${OBJECT_PREFIXES.tasks}${taskId}/jobs/${jobIndex}/attempt-${attempt}/`;
}

export function attemptLogKey(taskId: string, jobIndex: number, attempt: number): string {
  return `${attemptPrefix(taskId, jobIndex, attempt)}${ATTEMPT_LOG_NAME}`;
}

/** `tasks/<taskId>/ranges/`: where an event-service task's range outputs go. */
export function rangesPrefix(taskId: string): string {
  return `${OBJECT_PREFIXES.tasks}${taskId}/ranges/`;
}

/**
 * One range's output. The pilot and attempt are in the key, so a range run twice (its consumer
 * vanished after the upload) never overwrites the object its record names.
 */
export function rangeOutputKey(
  taskId: string,
  rangeIndex: number,
  pilotId: string,
  attempt: number,
  output: string,
): string {
  return `${rangesPrefix(taskId)}${rangeIndex}/${pilotId}.a${attempt}/${output}`;
}

/** Task-bucket keys a pilot may stage in: inputs, and the outputs of tasks (merge jobs read range outputs). */
export function isStageInKey(name: string): boolean {
  return name.startsWith(OBJECT_PREFIXES.inputs) || name.startsWith(OBJECT_PREFIXES.tasks);
}

/** `accounting/`: accounting exports (usage records by day), which Athena reads through a Glue table. */
export const ACCOUNTING_PREFIX = 'accounting/';

/** `accounting/usage/format=<format>/`: the Glue table's location for one format. */
export function usageExportPrefix(format: 'csv' | 'parquet'): string {
  return `${ACCOUNTING_PREFIX}usage/format=${format}/`;
}

/** One day's usage export, in a Hive-style partition: `accounting/usage/format=csv/day=2026-12-02/usage.csv`. */
export function usageExportKey(format: 'csv' | 'parquet', day: string): string {
  return `${usageExportPrefix(format)}day=${day}/usage.${format}`;
}

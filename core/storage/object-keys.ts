/**
 * The layout of the task bucket, in one place: who may write where (CDK grants, the pilots' STS
 * session policy) and where each object goes (sandboxes, outputs, logs) all follow from it.
 *
 *   sandboxes/<owner>/<sha256>/<name>                 user sandbox files (presigned uploads; expire)
 *   inputs/…                                         input files staged by operators or users
 *   tasks/<taskId>/jobs/<jobIndex>/attempt-<n>/…      one attempt's outputs and its log
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

/** `inputs/…` keys of the task bucket are staged in from it; anything else must be `s3://bucket/key`. */
export function isInputKey(name: string): boolean {
  return name.startsWith(OBJECT_PREFIXES.inputs);
}

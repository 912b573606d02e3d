import { z } from 'zod';
import { TaskIdSchema } from '#core/api/common.ts';
import type { Deps } from '#core/deps.ts';
import { resumeJobs } from '#core/tasks/task-workflow.ts';
import { workflowHandler } from '../../http/workflow-handler.ts';

/** Workflow step ResumeJobs: after a pause, the messages of one page of the task's queued jobs again. */
export function createHandler(deps: Pick<Deps, 'tasks' | 'jobs' | 'queue' | 'clock'>) {
  return workflowHandler(
    'resume-jobs',
    z.object({ taskId: TaskIdSchema, nextIndex: z.number().int().nonnegative() }),
    ({ taskId, nextIndex }) => resumeJobs(deps, taskId, nextIndex),
  );
}

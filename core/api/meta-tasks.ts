/** The meta-task API's shapes (POST/GET /meta-tasks…). */
import { z } from 'zod';
import { EDGE_CONDITIONS, META_TASK_SHAPES, MetaTaskSpecSchema } from '../meta-tasks/meta-task-spec.ts';
import { pageOf, TaskIdSchema, TimeSchema } from './common.ts';
import { JobCountsSchema } from './tasks.ts';

/** Meta-task ids: `m-` and the task ids' alphabet. */
export const MetaTaskIdSchema = z.string().regex(/^m-[0-9a-z]{6,40}$/, 'a meta-task id such as m-01jd3k…');
export const MetaTaskPathSchema = z.strictObject({ metaTaskId: MetaTaskIdSchema });

export const META_TASK_STATES = ['running', 'paused', 'done', 'partial', 'failed', 'cancelled'] as const;
export const NODE_STATES = [
  'pending',
  'running',
  'paused',
  'done',
  'partial',
  'failed',
  'cancelled',
  'skipped',
] as const;

/** The body of POST /meta-tasks: the spec (YAML is parsed by the CLI). */
export const SubmitMetaTaskRequestSchema = MetaTaskSpecSchema;
export const SubmitMetaTaskResponseSchema = z.object({ metaTaskId: MetaTaskIdSchema });

export const MetaTaskNodeViewSchema = z.object({
  name: z.string(),
  type: z.enum(['task', 'merge']),
  state: z.enum(NODE_STATES),
  taskId: TaskIdSchema.optional(),
  jobCount: z.number().int().nonnegative().optional(),
  counts: JobCountsSchema.optional(),
  outputDataset: z.string(),
  parents: z.array(z.string()),
  reason: z.string().optional(),
  /** Earlier tasks of the node (a retry starts a new one), oldest first. */
  history: z.array(z.object({ taskId: TaskIdSchema, state: z.string() })),
});

export const MetaTaskEdgeViewSchema = z.object({
  from: z.string(),
  to: z.string(),
  when: z.enum(EDGE_CONDITIONS),
  minFraction: z.number().optional(),
});

export const MetaTaskViewSchema = z.object({
  metaTaskId: MetaTaskIdSchema,
  name: z.string(),
  owner: z.string(),
  shape: z.enum(META_TASK_SHAPES),
  state: z.enum(META_TASK_STATES),
  /** Nodes in topological order. */
  nodes: z.array(MetaTaskNodeViewSchema),
  edges: z.array(MetaTaskEdgeViewSchema),
  reason: z.string().optional(),
  createdAt: TimeSchema,
  updatedAt: TimeSchema,
  endedAt: TimeSchema.optional(),
});
export type MetaTaskView = z.infer<typeof MetaTaskViewSchema>;
export type MetaTaskNodeView = z.infer<typeof MetaTaskNodeViewSchema>;

export const MetaTaskSummarySchema = z.object({
  metaTaskId: MetaTaskIdSchema,
  name: z.string(),
  state: z.enum(META_TASK_STATES),
  createdAt: TimeSchema,
  nodes: z.number().int().nonnegative(),
});
export const MetaTaskPageSchema = pageOf(MetaTaskSummarySchema);

import { describe, expect, it } from 'vitest';
import { JobPathSchema, PageQuerySchema, PilotIdSchema, TaskIdSchema } from '#core/api/common.ts';
import { JobsQuerySchema } from '#core/api/tasks.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';

describe('PageQuerySchema', () => {
  it('reads the limit from the query string, 100 by default', () => {
    expect(PageQuerySchema.parse({})).toEqual({ limit: 100 });
    expect(PageQuerySchema.parse({ limit: '5', nextToken: 'abc' })).toEqual({ limit: 5, nextToken: 'abc' });
  });

  it.each(['0', '1001', 'x', '2.5'])('refuses the limit %s', (limit) => {
    expect(PageQuerySchema.safeParse({ limit }).success).toBe(false);
  });
});

describe('JobsQuerySchema', () => {
  it('takes a job state to list', () => {
    expect(JobsQuerySchema.parse({ state: 'running' })).toEqual({ limit: 100, state: 'running' });
  });

  it('knows no starting state any more', () => {
    expect(JobsQuerySchema.safeParse({ state: 'starting' }).success).toBe(false);
  });
});

describe('JobPathSchema', () => {
  it('reads the job index from the path', () => {
    expect(JobPathSchema.parse({ taskId: 't-000001', jobIndex: '12' })).toEqual({
      taskId: 't-000001',
      jobIndex: 12,
    });
  });

  it.each(['-1', '1.5', 'x'])('refuses the job index %s', (jobIndex) => {
    expect(JobPathSchema.safeParse({ taskId: 't-000001', jobIndex }).success).toBe(false);
  });
});

describe('TaskIdSchema and PilotIdSchema', () => {
  it('accept the ids the system gives', () => {
    const deps = inMemoryDeps();
    expect(TaskIdSchema.safeParse(deps.ids.taskId()).success).toBe(true);
    expect(PilotIdSchema.safeParse(deps.ids.pilotId()).success).toBe(true);
  });

  it('refuse a task id as a pilot id and the other way round', () => {
    expect(PilotIdSchema.safeParse('t-000001').success).toBe(false);
    expect(TaskIdSchema.safeParse('p-000001').success).toBe(false);
  });
});

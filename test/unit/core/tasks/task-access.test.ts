import { describe, expect, it } from 'vitest';
import { NotFoundError } from '#core/errors.ts';
import { submitTask } from '#core/tasks/submit-task.ts';
import { ownedTask, ownedTaskHead } from '#core/tasks/task-access.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { alice, bob, generationSpec } from '../scenario.ts';

describe('ownedTask and ownedTaskHead', () => {
  it('give the task to its owner', async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(1));
    expect((await ownedTask(deps.tasks, alice, taskId)).spec.name).toBe('gen');
    expect(await ownedTaskHead(deps.tasks, alice, taskId)).toMatchObject({ taskId, owner: 'alice' });
  });

  it("report another user's task as missing, so task ids cannot be probed", async () => {
    const deps = inMemoryDeps();
    const { taskId } = await submitTask(deps, alice, generationSpec(1));
    const missing = new NotFoundError(`task ${taskId} not found`);
    await expect(ownedTask(deps.tasks, bob, taskId)).rejects.toThrow(missing);
    await expect(ownedTaskHead(deps.tasks, bob, taskId)).rejects.toThrow(missing);
    await expect(ownedTaskHead(deps.tasks, alice, 't-999999')).rejects.toBeInstanceOf(NotFoundError);
  });
});

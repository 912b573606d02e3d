import type { HeartbeatRequest, HeartbeatResponse } from '../api/contract.ts';
import type { Deps, Principal } from '../deps.ts';
import type { Task } from '../tasks/task.ts';
import { livePilot } from './pilot-access.ts';

/**
 * A pilot's heartbeat: records the pilot's state, renews the lease of each job it holds (and moves
 * it to running once the payload started), and tells it to kill jobs that were cancelled or whose
 * lease it no longer holds.
 */
export async function pilotHeartbeat(
  deps: Pick<Deps, 'tasks' | 'jobs' | 'pilots' | 'clock' | 'settings'>,
  principal: Principal,
  pilotId: string,
  request: HeartbeatRequest,
): Promise<HeartbeatResponse> {
  await livePilot(deps.pilots, principal, pilotId);
  const now = deps.clock.now();
  const at = now.toISOString();
  const leaseExpiresAt = now.getTime() + deps.settings.leaseSec * 1000;
  const first = request.jobs[0];
  await deps.pilots.heartbeat(pilotId, {
    state: request.state,
    at,
    ...(first === undefined ? {} : { currentJobId: `${first.taskId}.${first.jobIndex}` }),
  });
  const tasks = new Map<string, Task | undefined>();
  const replies: HeartbeatResponse['jobs'] = [];
  for (const ref of request.jobs) {
    if (!tasks.has(ref.taskId)) tasks.set(ref.taskId, await deps.tasks.get(ref.taskId));
    const task = tasks.get(ref.taskId);
    const key = { taskId: ref.taskId, jobIndex: ref.jobIndex, attempt: ref.attempt };
    if (task?.cancelRequested === true) {
      replies.push({ ...key, action: 'kill', reason: 'cancelled' });
      continue;
    }
    let held: boolean;
    if (ref.phase === 'running') {
      const started = await deps.jobs.transition({
        ...key,
        event: 'start',
        expected: { state: 'starting', attempt: ref.attempt, pilotId },
        set: { leaseExpiresAt },
        at,
      });
      held = started === 'ok' || (await deps.jobs.renewLease({ ...key, pilotId }, leaseExpiresAt, at));
    } else {
      held = await deps.jobs.renewLease({ ...key, pilotId }, leaseExpiresAt, at);
    }
    replies.push(held ? { ...key, action: 'continue' } : { ...key, action: 'kill', reason: 'lease lost' });
  }
  return { jobs: replies, leaseExpiresAt, serverTime: at };
}

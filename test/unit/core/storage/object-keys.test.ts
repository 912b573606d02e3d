import { describe, expect, it } from 'vitest';
import {
  ATTEMPT_LOG_NAME,
  attemptLogKey,
  attemptPrefix,
  isStageInKey,
  rangeOutputKey,
  sandboxKey,
} from '#core/storage/object-keys.ts';

describe('the keys of the task bucket', () => {
  it('puts an attempt outputs and its one log under the attempt', () => {
    expect(attemptPrefix('t-000001', 3, 2)).toBe('tasks/t-000001/jobs/3/attempt-2/');
    expect(attemptLogKey('t-000001', 3, 2)).toBe(`tasks/t-000001/jobs/3/attempt-2/${ATTEMPT_LOG_NAME}`);
    expect(ATTEMPT_LOG_NAME).toBe('attempt.log');
  });

  it('addresses sandbox files by owner and content', () => {
    expect(sandboxKey('616c696365', 'ab'.repeat(32), 'run.sh')).toBe(
      `sandboxes/616c696365/${'ab'.repeat(32)}/run.sh`,
    );
  });

  it('stages in inputs/ and tasks/ keys from the task bucket, and nothing else', () => {
    expect(isStageInKey('inputs/run1/a.root')).toBe(true);
    expect(isStageInKey('tasks/t-000001/ranges/4/p-000001.a1/out.json')).toBe(true);
    expect(isStageInKey('s3://raw/inputs/a.root')).toBe(false);
    expect(isStageInKey('sandboxes/616c696365/x/run.sh')).toBe(false);
  });

  it('keys a range output by range, pilot and attempt, so a rerun never overwrites it', () => {
    expect(rangeOutputKey('t-000001', 42, 'p-000009', 2, 'h.json')).toBe(
      'tasks/t-000001/ranges/42/p-000009.a2/h.json',
    );
  });
});

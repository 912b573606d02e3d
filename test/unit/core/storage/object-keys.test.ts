import { describe, expect, it } from 'vitest';
import {
  ATTEMPT_LOG_NAME,
  attemptLogKey,
  attemptPrefix,
  isInputKey,
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

  it('takes inputs/ keys as objects of the task bucket, and nothing else', () => {
    expect(isInputKey('inputs/run1/a.root')).toBe(true);
    expect(isInputKey('s3://raw/inputs/a.root')).toBe(false);
    expect(isInputKey('tasks/t-000001/jobs/0/attempt-1/out.root')).toBe(false);
  });
});

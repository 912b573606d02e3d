import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { JobMessageSchema, jobMessage, messageClass, parseJobMessage } from '#core/jobs/job-message.ts';

const good = { v: 1, taskId: 't-000001', jobIndex: 4, attempt: 2, siteId: 'cern' };

function errorOf(body: string): ValidationError {
  try {
    parseJobMessage(body);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  return expect.fail('expected a ValidationError');
}

describe('jobMessage', () => {
  it('builds a version 1 message naming the attempt, its site and when it was sent', () => {
    const message = jobMessage({ taskId: 't-000001', jobIndex: 4, attempt: 2 }, 'cern', 1_767_225_600_000, {
      cores: 1,
      memoryMB: 2000,
      gpus: 0,
    });
    expect(message).toEqual({ ...good, sentAt: 1_767_225_600_000, needs: { cores: 1, memoryMB: 2000 } });
    expect(JobMessageSchema.parse(message)).toEqual(message);
  });

  it.each([
    [{ cores: 1, memoryMB: 2000 }, 'score'],
    [{ cores: 8, memoryMB: 16_000 }, 'mcore'],
    [{ cores: 1, memoryMB: 2001 }, 'himem'],
    [{ cores: 4, memoryMB: 32_000 }, 'himem'],
    [{ cores: 1, memoryMB: 8000, gpus: 1 }, 'gpu'],
  ] as const)('sends a job needing %o to its site queue of class %s', (needs, resourceClass) => {
    const message = jobMessage({ taskId: 't-000001', jobIndex: 0, attempt: 1 }, 'cern', 0, needs);
    expect(messageClass(message)).toBe(resourceClass);
    expect(messageClass(parseJobMessage(JSON.stringify(message)))).toBe(resourceClass);
  });

  it('takes a message without needs (sent before classes) as single-core', () => {
    expect(messageClass(parseJobMessage(JSON.stringify(good)))).toBe('score');
  });
});

describe('parseJobMessage', () => {
  it('parses a good message, with or without sentAt', () => {
    expect(parseJobMessage(JSON.stringify(good))).toEqual(good);
    expect(parseJobMessage(JSON.stringify({ ...good, sentAt: 5 }))).toEqual({ ...good, sentAt: 5 });
  });

  it('rejects a body that is not JSON', () => {
    expect(errorOf('{"v":1,').issues).toEqual([{ field: 'body', message: 'not JSON' }]);
  });

  it('rejects another version', () => {
    expect(errorOf(JSON.stringify({ ...good, v: 2 })).issues.map((i) => i.field)).toEqual(['body.v']);
  });

  it.each(['taskId', 'jobIndex', 'attempt', 'siteId'] as const)('names the missing field %s', (field) => {
    const { [field]: _dropped, ...rest } = good;
    expect(errorOf(JSON.stringify(rest)).issues.map((i) => i.field)).toEqual([`body.${field}`]);
  });

  it('rejects attempt 0 and a negative job index', () => {
    const fields = errorOf(JSON.stringify({ ...good, attempt: 0, jobIndex: -1 })).issues.map((i) => i.field);
    expect(fields.sort()).toEqual(['body.attempt', 'body.jobIndex']);
  });

  it('rejects a site id that could not name a queue', () => {
    expect(errorOf(JSON.stringify({ ...good, siteId: 'CERN Geneva' })).issues.map((i) => i.field)).toEqual([
      'body.siteId',
    ]);
  });

  it('names an extra field as unknown', () => {
    expect(errorOf(JSON.stringify({ ...good, extra: true })).issues).toEqual([
      { field: 'body.extra', message: 'unknown field' },
    ]);
  });
});

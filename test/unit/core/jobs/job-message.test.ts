import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { parseJobMessage } from '#core/jobs/job-message.ts';

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

describe('parseJobMessage', () => {
  it('parses a good message', () => {
    expect(parseJobMessage(JSON.stringify(good))).toEqual(good);
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

  it('rejects a message with an extra field', () => {
    expect(errorOf(JSON.stringify({ ...good, extra: true })).issues).toHaveLength(1);
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConflictError,
  FatalError,
  ForbiddenError,
  fieldIssues,
  GluonError,
  NoSiteError,
  NotFoundError,
  PilotGoneError,
  TransientError,
  UnauthorizedError,
  ValidationError,
} from '#core/errors.ts';

describe('the error classes', () => {
  it.each([
    [new ValidationError('bad', []), 'ValidationError', 'invalid', 'INVALID_INPUT'],
    [new UnauthorizedError('who'), 'UnauthorizedError', 'unauthorized', 'UNAUTHORIZED'],
    [new ForbiddenError('no'), 'ForbiddenError', 'forbidden', 'FORBIDDEN'],
    [new NotFoundError('gone'), 'NotFoundError', 'not-found', 'NOT_FOUND'],
    [new ConflictError('race'), 'ConflictError', 'conflict', 'CONFLICT'],
    [new PilotGoneError('lost'), 'PilotGoneError', 'gone', 'PILOT_GONE'],
    [new TransientError('later'), 'TransientError', 'transient', 'TRANSIENT'],
    [new NoSiteError('none'), 'NoSiteError', 'fatal', 'NO_SITE'],
    [new FatalError('bug'), 'FatalError', 'fatal', 'FATAL'],
  ])('gives %o a literal name, a kind and a stable code', (error, name, kind, code) => {
    expect(error).toBeInstanceOf(GluonError);
    expect(error).toBeInstanceOf(Error);
    expect({ name: error.name, kind: error.kind, code: error.code }).toEqual({ name, kind, code });
  });

  it('names every bad field in the message of a ValidationError', () => {
    const error = new ValidationError('invalid task spec', [
      { field: 'name', message: 'required' },
      { field: 'resources.cores', message: 'too small' },
    ]);
    expect(error.message).toBe('invalid task spec: name: required; resources.cores: too small');
    expect(error.issues).toHaveLength(2);
  });
});

describe('fieldIssues', () => {
  const schema = z.strictObject({
    name: z.string(),
    resources: z.strictObject({ cores: z.number().min(1) }),
  });

  function issuesOf(value: unknown, prefix?: string) {
    const result = schema.safeParse(value);
    if (result.success) return expect.fail('expected issues');
    return fieldIssues(result.error.issues, prefix);
  }

  it('gives each issue the dotted path of its field', () => {
    expect(issuesOf({ name: 'x', resources: { cores: 0 } }).map((i) => i.field)).toEqual(['resources.cores']);
  });

  it('puts the fields under a prefix when given one', () => {
    expect(issuesOf({ name: 1, resources: { cores: 1 } }, 'body').map((i) => i.field)).toEqual(['body.name']);
  });

  it('names each unknown key as its own field', () => {
    expect(issuesOf({ name: 'x', resources: { cores: 1, gpus: 1, ram: 2 } })).toEqual([
      { field: 'resources.gpus', message: 'unknown field' },
      { field: 'resources.ram', message: 'unknown field' },
    ]);
  });

  it('calls the whole value (root) when it is not an object at all, or the prefix when there is one', () => {
    expect(issuesOf('text').map((i) => i.field)).toEqual(['(root)']);
    expect(issuesOf('text', 'body').map((i) => i.field)).toEqual(['body']);
  });
});

/** What a ValidationError names, for the tests of validating code. */
import { expect } from 'vitest';
import { type FieldIssue, ValidationError } from '#core/errors.ts';

/** The issues of the ValidationError thrown by `f` (the test fails if `f` does not throw one). */
export function issuesOf(f: () => unknown): FieldIssue[] {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues;
  }
  expect.fail('expected a ValidationError');
}

export function fieldsOf(f: () => unknown): string[] {
  return issuesOf(f).map((i) => i.field);
}

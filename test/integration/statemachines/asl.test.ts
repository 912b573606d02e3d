import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../../cdk/gluon-app.ts';

interface AslValidation {
  isValid: boolean;
  errorsText(separator?: string): string;
}
type AslValidator = (
  definition: unknown,
  options?: { checkPaths: boolean; checkArn: boolean },
) => AslValidation;
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

interface State {
  Type: string;
  Retry?: Array<{ ErrorEquals: string[] }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string }>;
  States?: Record<string, State>;
  Branches?: Array<{ States: Record<string, State> }>;
  ItemProcessor?: { States: Record<string, State> };
}

/** The error names Step Functions itself raises (Retry/Catch may name them). */
const STATES_ERRORS = new Set([
  'States.ALL',
  'States.DataLimitExceeded',
  'States.ExceedToleratedFailureThreshold',
  'States.HeartbeatTimeout',
  'States.Http.Socket',
  'States.IntrinsicFailure',
  'States.ItemReaderFailed',
  'States.NoChoiceMatched',
  'States.ParameterPathFailure',
  'States.Permissions',
  'States.QueryEvaluationError',
  'States.ResultPathMatchFailure',
  'States.ResultWriterFailed',
  'States.Runtime',
  'States.TaskFailed',
  'States.Timeout',
  'States.BranchFailed',
]);

const directory = join(PROJECT_ROOT, 'statemachines');
const files = readdirSync(directory).filter((f) => f.endsWith('.asl.json'));

/** `name = '…'` literals of the error classes in core/errors.ts: what handlers can throw by name. */
const errorNames = new Set(
  [...readFileSync(join(PROJECT_ROOT, 'core/errors.ts'), 'utf8').matchAll(/\bname = '(\w+)'/g)].map(
    (m) => m[1] as string,
  ),
);

/** `${SplitTaskFunctionArn}` → an ARN of the shape CloudFormation substitutes. */
function withExampleArns(text: string): string {
  return text.replace(/\$\{(\w+)FunctionArn\}/g, (_, name: string) => {
    const kebab = name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
    return `arn:aws:lambda:eu-west-1:111122223333:function:gluon-dev-${kebab}`;
  });
}

function allStates(states: Record<string, State>): Array<[string, State]> {
  return Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, State],
    ...(state.Branches ?? []).flatMap((b) => allStates(b.States)),
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
  ]);
}

describe('state machine definitions', () => {
  it('finds the ASL files and the error names', () => {
    expect(files).toContain('task.asl.json');
    expect(errorNames).toContain('TransientError');
    expect(errorNames.size).toBeGreaterThan(5);
  });

  for (const file of files) {
    const text = readFileSync(join(directory, file), 'utf8');

    it(`${file} uses only \${XxxFunctionArn} placeholders`, () => {
      const placeholders = [...text.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]);
      expect(placeholders.length).toBeGreaterThan(0);
      for (const placeholder of placeholders) expect(placeholder).toMatch(/^[A-Z][A-Za-z]+FunctionArn$/);
    });

    it(`${file} passes asl-validator, ARNs and paths checked`, () => {
      const definition = JSON.parse(withExampleArns(text)) as unknown;
      const result = aslValidator(definition, { checkPaths: true, checkArn: true });
      expect(result.errorsText('\n')).toBe('');
      expect(result.isValid).toBe(true);
    });

    it(`${file} retries and catches only States.*, Lambda.* or error names the handlers throw`, () => {
      const definition = JSON.parse(withExampleArns(text)) as { States: Record<string, State> };
      const names = allStates(definition.States).flatMap(([, state]) =>
        [...(state.Retry ?? []), ...(state.Catch ?? [])].flatMap((rule) => rule.ErrorEquals),
      );
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) {
        const known = STATES_ERRORS.has(name) || /^Lambda\.[A-Za-z]+$/.test(name) || errorNames.has(name);
        expect(known, `${file}: ErrorEquals "${name}"`).toBe(true);
      }
    });
  }

  it('rejects a definition with a broken transition (the validator can fail)', () => {
    const result = aslValidator(
      { StartAt: 'A', States: { A: { Type: 'Pass', Next: 'Missing' } } },
      { checkPaths: true, checkArn: true },
    );
    expect(result.isValid).toBe(false);
  });
});

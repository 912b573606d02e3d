import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WORKFLOW_FUNCTIONS } from '#lambdas/routes.ts';
import {
  kebabCase,
  loadWorkflowDefinition,
  MAX_TASK_TIMEOUT_SEC,
  parseWorkflowDefinition,
} from '#local/workflow-definition.ts';

/** The ASL substitution variable `${name}`. */
const substitution = (name: string): string => `\${${name}}`;

const TASK_ASL = fileURLToPath(new URL('../../../statemachines/task.asl.json', import.meta.url));

describe('workflow definition loading', () => {
  it('turns XxxFunctionArn substitution names into function names', () => {
    expect(kebabCase('SplitTask')).toBe('split-task');
    expect(kebabCase('WaitForJobs')).toBe('wait-for-jobs');
    expect(kebabCase('ReapHTTPLeases')).toBe('reap-http-leases');
  });

  it('binds every Task state of task.asl.json to a workflow function', async () => {
    const { tasks, definition } = await loadWorkflowDefinition(TASK_ASL);
    const bound = [...tasks.values()];
    expect(new Set(bound.map((t) => t.functionName))).toEqual(new Set(WORKFLOW_FUNCTIONS));
    expect(tasks.get('WaitForJobs')).toEqual({
      stateName: 'WaitForJobs',
      functionName: 'wait-for-jobs',
      integration: 'lambda-invoke-wait',
    });
    expect(tasks.get('SplitTask')?.integration).toBe('lambda');
    const split = definition.States.SplitTask as { Resource: string; TimeoutSeconds?: number };
    expect(split.Resource).toBe('arn:aws:lambda:us-east-1:000000000000:function:split-task');
    expect(split.TimeoutSeconds).toBe(MAX_TASK_TIMEOUT_SEC);
    const wait = definition.States.WaitForJobs as unknown as { Parameters: { FunctionName: string } };
    expect(wait.Parameters.FunctionName).toBe('arn:aws:lambda:us-east-1:000000000000:function:wait-for-jobs');
  });

  it('keeps a timeout the definition sets', () => {
    const text = JSON.stringify({
      StartAt: 'A',
      States: { A: { Type: 'Task', Resource: substitution('AFunctionArn'), TimeoutSeconds: 7, End: true } },
    });
    const { definition } = parseWorkflowDefinition(text, 'inline');
    expect((definition.States.A as { TimeoutSeconds: number }).TimeoutSeconds).toBe(7);
  });

  it('refuses service integrations it cannot run and unknown substitutions', () => {
    const sqs = JSON.stringify({
      StartAt: 'Send',
      States: { Send: { Type: 'Task', Resource: 'arn:aws:states:::sqs:sendMessage', End: true } },
    });
    expect(() => parseWorkflowDefinition(sqs, 'inline')).toThrow(
      /Send uses arn:aws:states:::sqs:sendMessage/,
    );
    const unknown = JSON.stringify({
      StartAt: 'P',
      States: { P: { Type: 'Pass', Result: substitution('BucketName'), End: true } },
    });
    expect(() => parseWorkflowDefinition(unknown, 'inline')).toThrow(
      /no value for the substitution \$\{BucketName\}/,
    );
    const given = parseWorkflowDefinition(unknown, 'inline', { substitutions: { BucketName: 'b' } });
    expect((given.definition.States.P as { Result: string }).Result).toBe('b');
  });

  it('finds Task states inside Parallel branches and Map processors', () => {
    const text = JSON.stringify({
      StartAt: 'Par',
      States: {
        Par: {
          Type: 'Parallel',
          Branches: [
            {
              StartAt: 'Inner',
              States: { Inner: { Type: 'Task', Resource: substitution('InnerFunctionArn'), End: true } },
            },
          ],
          Next: 'Each',
        },
        Each: {
          Type: 'Map',
          ItemProcessor: {
            StartAt: 'Item',
            States: { Item: { Type: 'Task', Resource: substitution('DoItemFunctionArn'), End: true } },
          },
          End: true,
        },
      },
    });
    const { tasks } = parseWorkflowDefinition(text, 'inline');
    expect([...tasks.values()].map((t) => t.functionName).sort()).toEqual(['do-item', 'inner']);
  });
});

import { readFileSync } from 'node:fs';
import { validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '#core/api/openapi.ts';
import { OPERATIONS } from '#core/api/operations.ts';
import { OPENAPI_FILE, renderOpenApi } from '#local/openapi.ts';

type Doc = Parameters<typeof validate>[0];

describe('openApiDocument', () => {
  it('is a valid OpenAPI 3.1 document for a third-party validator (@readme/openapi-parser)', async () => {
    const result = await validate(openApiDocument('1.2.3') as Doc);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.specification).toBe('OpenAPI');
  });

  it('is refused by the same validator when broken (the check can fail)', async () => {
    const broken = structuredClone(openApiDocument('1.2.3')) as {
      components: { schemas: Record<string, unknown> };
    };
    // A response schema the document refers to, gone.
    delete broken.components.schemas.GetTaskResponse;
    const result = await validate(broken as Doc);
    expect(result.valid).toBe(false);
  });

  it('describes every operation with its method, path, scopes and schemas', () => {
    const doc = openApiDocument('1.2.3') as {
      paths: Record<
        string,
        Record<string, { operationId: string; security: Array<{ bearer: string[] }>; requestBody?: unknown }>
      >;
      components: { schemas: Record<string, unknown> };
    };
    for (const [id, op] of Object.entries(OPERATIONS)) {
      const described = doc.paths[op.path]?.[op.method.toLowerCase()];
      expect(described?.operationId, id).toBe(id);
      expect(described?.security, id).toEqual([{ bearer: [...op.scopes] }]);
      expect(described?.requestBody !== undefined, id).toBe('body' in op);
      expect(doc.components.schemas[`${id.charAt(0).toUpperCase()}${id.slice(1)}Response`], id).toBeDefined();
    }
  });

  it('names the fields of a task spec and their limits', () => {
    const doc = openApiDocument('1.2.3') as {
      components: { schemas: { SubmitTaskRequest: { properties: Record<string, { maximum?: number }> } } };
    };
    const spec = doc.components.schemas.SubmitTaskRequest.properties;
    expect(Object.keys(spec)).toEqual(
      expect.arrayContaining(['name', 'payload', 'events', 'inputs', 'resources']),
    );
    expect(spec.maxAttempts?.maximum).toBe(10);
  });
});

describe('openapi.json', () => {
  it('is current: npm run openapi writes what the operations say', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(renderOpenApi());
  });
});

/**
 * The OpenAPI 3.1 document of the Gluon API, generated from the operations table and its zod
 * schemas (JSON Schema 2020-12 by zod's own converter), so it cannot say anything the handlers do
 * not check. `npm run openapi` writes it to openapi.json; a test fails when that file is stale.
 */
import { z } from 'zod';
import { ErrorBodySchema } from './common.ts';
import { OPERATIONS, type Operation, type OperationId } from './operations.ts';

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    // Refinements across fields (e.g. "give events or inputs, not both") are checked by the API
    // and named in its 400 answers; JSON Schema shows the fields.
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

function upperFirst(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Path and query parameters from their object schemas. */
function parameters(op: Operation): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const [where, schema] of [
    ['path', op.params],
    ['query', op.query],
    ['header', op.headers],
  ] as const) {
    if (schema === undefined) continue;
    const object = jsonSchema(schema, 'input') as {
      properties?: Record<string, JsonSchema>;
      required?: string[];
    };
    for (const [name, property] of Object.entries(object.properties ?? {})) {
      if (where === 'header') {
        out.push(headerParameter(name, property, (object.required ?? []).includes(name)));
        continue;
      }
      out.push({
        name,
        in: where,
        required: where === 'path' || (object.required ?? []).includes(name),
        schema: property,
      });
    }
  }
  return out;
}

/** A header parameter, named as headers are usually written (HTTP matches them in any case). */
function headerParameter(name: string, property: JsonSchema, required: boolean): Record<string, unknown> {
  const { description, ...schema } = property;
  return {
    name: name.replace(/(^|-)([a-z])/g, (_whole, dash: string, c: string) => dash + c.toUpperCase()),
    in: 'header',
    required,
    ...(description === undefined ? {} : { description }),
    schema,
  };
}

const ERRORS: Record<string, string> = {
  '400': 'A field is invalid; `error.issues` names each one.',
  '401': 'No valid bearer token.',
  '403': 'The token lacks the scope, or is for another site.',
  '404': 'No such resource (another user’s task is reported missing too).',
  '409': 'The resource is not in a state that allows this.',
  '410': 'PILOT_GONE: the pilot is unknown or no longer live; it must register again.',
  '503': 'A service did not answer in time; try again after `Retry-After` seconds.',
};

export function openApiDocument(version: string): Record<string, unknown> {
  const schemas: Record<string, JsonSchema> = { ErrorBody: jsonSchema(ErrorBodySchema, 'output') };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const id of Object.keys(OPERATIONS) as OperationId[]) {
    const op = OPERATIONS[id] as Operation;
    const name = upperFirst(id);
    schemas[`${name}Response`] = jsonSchema(op.response, 'output');
    if (op.body !== undefined) schemas[`${name}Request`] = jsonSchema(op.body, 'input');
    const errors = Object.fromEntries(
      Object.entries(ERRORS).map(([status, description]) => [
        status,
        {
          description,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } },
        },
      ]),
    );
    const item = paths[op.path] ?? {};
    item[op.method.toLowerCase()] = {
      operationId: id,
      summary: op.summary,
      tags: [op.tag],
      security: [{ bearer: [...op.scopes] }],
      ...(op.params === undefined && op.query === undefined && op.headers === undefined
        ? {}
        : { parameters: parameters(op) }),
      ...(op.body === undefined
        ? {}
        : {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}Request` } } },
            },
          }),
      responses: {
        [String(op.status)]: {
          description: 'Success',
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}Response` } } },
        },
        ...errors,
      },
    };
    paths[op.path] = item;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gluon API',
      version,
      description:
        'Serverless workload management for high-energy physics: tasks, jobs, pilots and sites. ' +
        'Every request carries a bearer JWT; each operation lists the scopes that admit it (any one).',
    },
    servers: [{ url: 'http://127.0.0.1:8642', description: 'the local stack (npm start)' }],
    tags: [
      { name: 'tasks', description: 'Submit, follow and cancel tasks.' },
      { name: 'jobs', description: 'The jobs of a task and their attempts.' },
      { name: 'pilots', description: 'Pilots: registration, claims and reports.' },
      { name: 'sites', description: 'The information system: sites and their demand.' },
      { name: 'policies', description: "The VO's policies as data: fair shares and caps, retry rules." },
      {
        name: 'accounting',
        description: 'Usage per attempt, rolled up per day by user, group and site; exports.',
      },
      { name: 'metrics', description: "The operators' metrics, as per-minute sums." },
      { name: 'meta-tasks', description: 'Chains, bags and DAGs of tasks, with merge steps.' },
      {
        name: 'catalog',
        description: 'The data catalog: scopes, storage endpoints, datasets, files and replicas.',
      },
    ],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas,
    },
  };
}

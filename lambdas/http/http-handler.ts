import middy from '@middy/core';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { z } from 'zod';
import { OPERATIONS, type OperationId, type Operations } from '#core/api/operations.ts';
import type { Principal } from '#core/deps.ts';
import { fieldIssues, UnauthorizedError, ValidationError } from '#core/errors.ts';
import { logKeysOf } from '../runtime/log-keys.ts';
import { logger, powertools } from '../runtime/powertools.ts';
import { errorResponse } from './error-status.ts';

export type HttpEvent = APIGatewayProxyEventV2WithJWTAuthorizer;
export type HttpResult = APIGatewayProxyStructuredResultV2;

type Parsed<S> = S extends z.ZodType ? z.infer<S> : undefined;

/** A request as its operation's schemas parsed it: every field checked at the edge, once. */
export interface HttpRequest<K extends OperationId> {
  params: Parsed<Operations[K] extends { params: infer P } ? P : undefined>;
  query: Parsed<Operations[K] extends { query: infer Q } ? Q : undefined>;
  body: Parsed<Operations[K] extends { body: infer B } ? B : undefined>;
  headers: Parsed<Operations[K] extends { headers: infer H } ? H : undefined>;
  principal: Principal;
}

/** Seconds a client is told to wait before trying again after a 503. */
export const RETRY_AFTER_SEC = 2;

/** The principal as the HTTP API JWT authorizer passes it: `sub` and the token's scopes. */
export function principalOf(event: HttpEvent): Principal {
  const jwt = event.requestContext?.authorizer?.jwt;
  const sub = jwt?.claims?.sub;
  if (typeof sub !== 'string' || sub === '') throw new UnauthorizedError('no authenticated subject');
  const scopes = Array.isArray(jwt.scopes)
    ? jwt.scopes
    : String(jwt.claims.scope ?? '')
        .split(' ')
        .filter(Boolean);
  return { sub, scopes };
}

function parsePart(schema: z.ZodType | undefined, value: unknown, part: string, prefix?: string): unknown {
  if (schema === undefined) return undefined;
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new ValidationError(`invalid ${part}`, fieldIssues(result.error.issues, prefix));
  return result.data;
}

function parseBody(event: HttpEvent): unknown {
  const raw =
    event.isBase64Encoded && event.body !== undefined
      ? Buffer.from(event.body, 'base64').toString('utf8')
      : event.body;
  if (raw === undefined || raw === '')
    throw new ValidationError('invalid body', [{ field: 'body', message: 'a JSON body is required' }]);
  try {
    return JSON.parse(raw);
  } catch {
    throw new ValidationError('invalid body', [{ field: 'body', message: 'not valid JSON' }]);
  }
}

/**
 * An API handler: the operation's schemas parse the path, query and body (a bad field is a 400
 * naming it), one use case runs, its answer goes out with the operation's status. Errors become
 * statuses in one place (error-status.ts); 5xx bodies never carry internals; a 503 says when to
 * try again.
 */
export function httpHandler<K extends OperationId>(
  id: K,
  run: (request: HttpRequest<K>) => Promise<z.input<Operations[K]['response']>>,
) {
  const operation = OPERATIONS[id];
  return powertools(middy<HttpEvent, HttpResult>())
    .onError(async (request) => {
      const { statusCode, body, internal } = errorResponse(request.error);
      const level = internal ? 'error' : statusCode >= 500 ? 'warn' : 'debug';
      logger[level](internal ? 'request failed' : 'request rejected', {
        operation: id,
        statusCode,
        error: request.error instanceof Error ? request.error.message : String(request.error),
        ...(internal && request.error instanceof Error ? { stack: request.error.stack } : {}),
      });
      request.response = json(
        statusCode,
        body,
        statusCode === 503 ? { 'retry-after': String(RETRY_AFTER_SEC) } : {},
      );
    })
    .handler(async (event) => {
      logger.appendKeys({ operation: id });
      const principal = principalOf(event);
      const params = parsePart(
        'params' in operation ? operation.params : undefined,
        event.pathParameters,
        'path',
        'path',
      );
      const query = parsePart(
        'query' in operation ? operation.query : undefined,
        event.queryStringParameters,
        'query',
        'query',
      );
      const body =
        'body' in operation && operation.body !== undefined
          ? parsePart(operation.body, parseBody(event), 'body')
          : undefined;
      const headers = parsePart(
        'headers' in operation ? operation.headers : undefined,
        event.headers,
        'headers',
        'header',
      );
      logger.appendKeys({ ...logKeysOf([params, body], principal) });
      const result = await run({ params, query, body, headers, principal } as HttpRequest<K>);
      return json(operation.status, result);
    });
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * Runs a read whose page token is checked deeper down (the store decodes it): a bad token is
 * reported as the query field it came from.
 */
export async function withPageToken<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof ValidationError && error.issues.some((i) => i.field === 'nextToken')) {
      throw new ValidationError(
        'invalid query',
        error.issues.map((i) => (i.field === 'nextToken' ? { ...i, field: 'query.nextToken' } : i)),
      );
    }
    throw error;
  }
}

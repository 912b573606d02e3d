import middy from '@middy/core';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { z } from 'zod';
import type { Principal } from '#core/deps.ts';
import { fieldIssues, UnauthorizedError, ValidationError } from '#core/errors.ts';
import { createLogger } from '../runtime/logger.ts';
import { errorResponse } from './error-status.ts';

export type HttpEvent = APIGatewayProxyEventV2WithJWTAuthorizer;
export type HttpResult = APIGatewayProxyStructuredResultV2;

export interface HttpRequest<P, Q> {
  path: P;
  query: Q;
  /** The parsed JSON body (validated by the use case, which names the fields). */
  body: unknown;
  principal: Principal;
}

export interface HttpRoute<P, Q, R> {
  name: string;
  path?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  /** True when the route takes a JSON body. */
  body?: boolean;
  successStatus?: number;
  run(request: HttpRequest<P, Q>): Promise<R>;
}

const logger = createLogger('api');

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

function parsePart<T>(schema: z.ZodType<T> | undefined, value: unknown, part: string): T {
  if (schema === undefined) return undefined as T;
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new ValidationError(`invalid ${part}`, fieldIssues(result.error.issues, part));
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
 * An API handler: parse the request, call one use case, map the outcome. Errors become statuses in
 * one place (error-status.ts); 5xx bodies never carry internals.
 */
export function httpHandler<P, Q, R>(route: HttpRoute<P, Q, R>) {
  return middy<HttpEvent, HttpResult>()
    .onError(async (request) => {
      const { statusCode, body, internal } = errorResponse(request.error);
      const log = internal ? logger.error : logger.info;
      log(internal ? 'request failed' : 'request rejected', {
        route: route.name,
        statusCode,
        error: request.error instanceof Error ? request.error.message : String(request.error),
        ...(internal && request.error instanceof Error ? { stack: request.error.stack } : {}),
      });
      request.response = json(statusCode, body);
    })
    .handler(async (event) => {
      const principal = principalOf(event);
      const path = parsePart(route.path, event.pathParameters, 'path');
      const query = parsePart(route.query, event.queryStringParameters, 'query');
      const body = route.body === true ? parseBody(event) : undefined;
      const result = await route.run({ path, query, body, principal });
      return json(route.successStatus ?? 200, result);
    });
}

export function json(statusCode: number, body: unknown): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
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

import type { Route } from '#lambdas/routes.ts';

export type RouteMatch =
  | { kind: 'found'; route: Route; routeKey: string; pathParameters: Record<string, string> }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'not-found' };

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  names: string[];
}

/**
 * Matches requests to the route table the way HTTP API routes match: `{name}` takes one path
 * segment, `{name+}` takes the rest of the path; literal segments win over parameters
 * (`/tasks/jobs` before `/tasks/{taskId}`). Path parameters are URL-decoded.
 */
export function createRouteMatcher(
  routes: readonly Route[],
): (method: string, rawPath: string) => RouteMatch {
  const compiled = [...routes]
    .sort((a, b) => specificity(b.path) - specificity(a.path))
    .map((route): CompiledRoute => {
      const names: string[] = [];
      const source = route.path
        .split('/')
        .map((segment) => {
          const param = /^\{([A-Za-z0-9_]+)(\+?)\}$/.exec(segment);
          if (param === null) return escapeRegExp(segment);
          names.push(param[1] as string);
          return param[2] === '+' ? '(.+)' : '([^/]+)';
        })
        .join('/');
      return { route, pattern: new RegExp(`^${source}$`), names };
    });

  return (method, rawPath) => {
    const allowed = new Set<string>();
    const upper = method.toUpperCase();
    for (const { route, pattern, names } of compiled) {
      const match = pattern.exec(rawPath);
      if (match === null) continue;
      if (route.method !== upper) {
        allowed.add(route.method);
        continue;
      }
      const pathParameters: Record<string, string> = {};
      names.forEach((name, i) => {
        pathParameters[name] = safeDecode(match[i + 1] as string);
      });
      return { kind: 'found', route, routeKey: `${route.method} ${route.path}`, pathParameters };
    }
    return allowed.size > 0
      ? { kind: 'method-not-allowed', allowed: [...allowed].sort() }
      : { kind: 'not-found' };
  };
}

/** More literal segments first, then fewer greedy parameters. */
function specificity(path: string): number {
  return path
    .split('/')
    .reduce(
      (score, segment) => score + (segment.startsWith('{') ? (segment.endsWith('+}') ? -100 : 0) : 1),
      0,
    );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

import { SCOPES, type Scope } from '#core/api/contract.ts';

/**
 * Every HTTP route, the function that serves it and the scopes the JWT authorizer requires (any
 * one of them). The local API server and the CDK Api construct both read this table.
 */
export interface Route {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  functionName: string;
  scopes: Scope[];
}

export const ROUTES: Route[] = [
  { method: 'POST', path: '/tasks', functionName: 'submit-task', scopes: [SCOPES.create] },
  { method: 'GET', path: '/tasks', functionName: 'list-tasks', scopes: [SCOPES.read] },
  { method: 'GET', path: '/tasks/{taskId}', functionName: 'get-task', scopes: [SCOPES.read] },
  { method: 'GET', path: '/tasks/{taskId}/jobs', functionName: 'list-jobs', scopes: [SCOPES.read] },
  { method: 'POST', path: '/tasks/{taskId}/cancel', functionName: 'cancel-task', scopes: [SCOPES.cancel] },
  { method: 'GET', path: '/tasks/{taskId}/why', functionName: 'explain-task', scopes: [SCOPES.read] },
  { method: 'POST', path: '/sandboxes', functionName: 'create-sandbox', scopes: [SCOPES.create] },
  { method: 'GET', path: '/pilots', functionName: 'list-pilots', scopes: [SCOPES.read] },
  { method: 'POST', path: '/pilots', functionName: 'register-pilot', scopes: [SCOPES.pilot] },
  { method: 'POST', path: '/pilots/{pilotId}/claim', functionName: 'claim-job', scopes: [SCOPES.pilot] },
  { method: 'POST', path: '/pilots/{pilotId}/heartbeat', functionName: 'heartbeat', scopes: [SCOPES.pilot] },
  {
    method: 'POST',
    path: '/pilots/{pilotId}/complete',
    functionName: 'complete-job',
    scopes: [SCOPES.pilot],
  },
  {
    method: 'POST',
    path: '/pilots/{pilotId}/credentials',
    functionName: 'renew-pilot-credentials',
    scopes: [SCOPES.pilot],
  },
  { method: 'GET', path: '/sites/{siteId}/demand', functionName: 'site-demand', scopes: [SCOPES.pilot] },
  { method: 'GET', path: '/sites', functionName: 'list-sites', scopes: [SCOPES.read, SCOPES.admin] },
  { method: 'PUT', path: '/sites/{siteId}', functionName: 'put-site', scopes: [SCOPES.admin] },
];

/** Functions run by the task workflow (state name in the ASL → function), and by schedules. */
export const WORKFLOW_FUNCTIONS = [
  'split-task',
  'enqueue-jobs',
  'wait-for-jobs',
  'finalize-task',
  'fail-task',
] as const;
export const SCHEDULED_FUNCTIONS = [{ functionName: 'reap-leases', everySec: 60 }] as const;

/** The capability folder of each function: its handler lives in `lambdas/<capability>/<name>/`. */
export const FUNCTION_CAPABILITY: Readonly<Record<string, 'tasks' | 'jobs' | 'pilots' | 'sites'>> = {
  'submit-task': 'tasks',
  'list-tasks': 'tasks',
  'get-task': 'tasks',
  'cancel-task': 'tasks',
  'explain-task': 'tasks',
  'create-sandbox': 'tasks',
  'split-task': 'tasks',
  'enqueue-jobs': 'tasks',
  'wait-for-jobs': 'tasks',
  'finalize-task': 'tasks',
  'fail-task': 'tasks',
  'list-jobs': 'jobs',
  'claim-job': 'jobs',
  'complete-job': 'jobs',
  heartbeat: 'pilots',
  'list-pilots': 'pilots',
  'register-pilot': 'pilots',
  'renew-pilot-credentials': 'pilots',
  'reap-leases': 'pilots',
  'list-sites': 'sites',
  'put-site': 'sites',
  'site-demand': 'sites',
};

/** `claim-job` → `jobs/claim-job`, the function's directory under lambdas/. */
export function functionDir(name: string): string {
  const capability = FUNCTION_CAPABILITY[name];
  if (capability === undefined) throw new Error(`function ${name} has no capability in FUNCTION_CAPABILITY`);
  return `${capability}/${name}`;
}

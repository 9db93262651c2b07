/**
 * The incident routes with an id in their path, probed by test/incidents/access.test.ts. Kept
 * here so test/tenancy/cross-tenant.test.ts can hold the whole app's id routes to "covered by one
 * of the two matrices" without importing (and so re-running) the incidents test file.
 */
export type IncidentRouteMethod = 'get' | 'post' | 'patch';

export interface IncidentRouteCase {
  name: string;
  /** Exactly as in the route inventory: "METHOD /v1/path/:params". */
  route: string;
  method: IncidentRouteMethod;
  path: (incidentId: string, taskId: string) => string;
  body?: object;
}

/** Every route with an incident (and task) id in its path. */
export const INCIDENT_ID_ROUTES: IncidentRouteCase[] = [
  { name: 'GET incident', route: 'GET /v1/incidents/:incidentId', method: 'get', path: (i) => `/v1/incidents/${i}` },
  { name: 'PATCH incident', route: 'PATCH /v1/incidents/:incidentId', method: 'patch', path: (i) => `/v1/incidents/${i}`, body: { status: 'resolved' } },
  { name: 'POST acknowledge', route: 'POST /v1/incidents/:incidentId/acknowledge', method: 'post', path: (i) => `/v1/incidents/${i}/acknowledge` },
  { name: 'GET timeline', route: 'GET /v1/incidents/:incidentId/timeline-events', method: 'get', path: (i) => `/v1/incidents/${i}/timeline-events` },
  { name: 'POST timeline', route: 'POST /v1/incidents/:incidentId/timeline-events', method: 'post', path: (i) => `/v1/incidents/${i}/timeline-events`, body: { message: 'note' } },
  { name: 'GET tasks', route: 'GET /v1/incidents/:incidentId/tasks', method: 'get', path: (i) => `/v1/incidents/${i}/tasks` },
  { name: 'POST tasks', route: 'POST /v1/incidents/:incidentId/tasks', method: 'post', path: (i) => `/v1/incidents/${i}/tasks`, body: { title: 'task' } },
  { name: 'PATCH task', route: 'PATCH /v1/incidents/:incidentId/tasks/:taskId', method: 'patch', path: (i, k) => `/v1/incidents/${i}/tasks/${k}`, body: { status: 'done' } },
  { name: 'GET status updates', route: 'GET /v1/incidents/:incidentId/status-updates', method: 'get', path: (i) => `/v1/incidents/${i}/status-updates` },
  {
    name: 'POST status updates',
    route: 'POST /v1/incidents/:incidentId/status-updates',
    method: 'post',
    path: (i) => `/v1/incidents/${i}/status-updates`,
    body: { message: 'm', visibility: 'public', status: 'resolved' },
  },
];

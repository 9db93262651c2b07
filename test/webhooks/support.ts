import type { SessionClient } from '../support/factories.js';

export async function createEndpoint(
  owner: SessionClient,
  tenantId: string,
  body: { url: string; eventTypes?: string[]; description?: string },
): Promise<{ id: string; secret: string; version: number }> {
  const res = await owner.post(`/v1/tenants/${tenantId}/webhook-endpoints`, { eventTypes: ['*'], ...body });
  if (res.status !== 201) throw new Error(`endpoint create failed: ${String(res.status)} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; secret: string; version: number };
}

export async function createIncident(client: SessionClient, title = 'Checkout down'): Promise<{ id: string; version: number }> {
  const res = await client.post('/v1/incidents', { title, severity: 'SEV2' });
  if (res.status !== 201) throw new Error(`incident create failed: ${String(res.status)} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; version: number };
}

export interface DeliveryBody {
  id: string;
  eventId: string;
  eventType: string;
  seq: number | null;
  status: string;
  attempts: number;
  nextAttemptAt: string | null;
  lastResponseStatus: number | null;
  attemptLog?: { at: string; responseStatus: number | null; error: string | null; responseBodyExcerpt: string | null }[];
}

export async function deliveries(owner: SessionClient, tenantId: string, endpointId: string): Promise<DeliveryBody[]> {
  const res = await owner.get(`/v1/tenants/${tenantId}/webhook-endpoints/${endpointId}/deliveries?limit=100`);
  if (res.status !== 200) throw new Error(`deliveries failed: ${String(res.status)}`);
  return (res.body as { data: DeliveryBody[] }).data;
}

export async function delivery(owner: SessionClient, tenantId: string, endpointId: string, id: string): Promise<DeliveryBody> {
  const res = await owner.get(`/v1/tenants/${tenantId}/webhook-endpoints/${endpointId}/deliveries/${id}`);
  if (res.status !== 200) throw new Error(`delivery failed: ${String(res.status)}`);
  return res.body as DeliveryBody;
}

import { z } from 'zod';
import { ALERT_SEVERITIES } from './alerts.queries.js';

/**
 * PagerDuty Events API v2 (`POST /v1/integrations/events-v2/enqueue`). Fields PagerDuty defines
 * are checked; fields it does not define are ignored, as PagerDuty ignores them, so that
 * clients built for PagerDuty work unchanged. Long strings are truncated, not refused (see
 * `truncate`): PagerDuty truncates `summary` at 1,024 characters and `dedup_key` at 255.
 */
const text = z.string();
const payload = z.object({
  summary: text.min(1),
  source: text.min(1),
  severity: z.enum(ALERT_SEVERITIES),
  timestamp: text.optional(),
  component: text.optional(),
  group: text.optional(),
  class: text.optional(),
  custom_details: z.unknown().optional(),
});

export const eventsV2Body = z.object({
  routing_key: text,
  event_action: z.enum(['trigger', 'acknowledge', 'resolve']),
  dedup_key: text.min(1).optional(),
  payload: payload.optional(),
  links: z.array(z.unknown()).optional(),
  images: z.array(z.unknown()).optional(),
  client: text.optional(),
  client_url: text.optional(),
});
export type EventsV2Body = z.infer<typeof eventsV2Body>;

/** Prometheus Alertmanager's webhook payload, version 4 (only the fields this API reads are checked). */
const labels = z.record(z.string(), z.string());
const alertmanagerAlert = z.object({
  status: z.enum(['firing', 'resolved']),
  labels,
  annotations: labels.optional(),
  startsAt: text.optional(),
  endsAt: text.optional(),
  generatorURL: text.optional(),
  fingerprint: text.min(1),
});
export const alertmanagerBody = z.object({
  version: z.literal('4'),
  groupKey: text.min(1),
  status: z.enum(['firing', 'resolved']).optional(),
  receiver: text.optional(),
  groupLabels: labels.optional(),
  commonLabels: labels.optional(),
  commonAnnotations: labels.optional(),
  externalURL: text.optional(),
  truncatedAlerts: z.number().int().optional(),
  alerts: z.array(alertmanagerAlert).max(1000),
});
export type AlertmanagerBody = z.infer<typeof alertmanagerBody>;
export type AlertmanagerAlert = AlertmanagerBody['alerts'][number];

export const LIMITS = { summary: 1024, dedupKey: 255, source: 255, groupKey: 1024, detailsDepth: 32 } as const;

/**
 * At most `max` characters (code points, as PostgreSQL counts them), with NUL removed (text columns
 * refuse it) and lone surrogates replaced (they are not UTF-8).
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function wellFormed(s: string): boolean {
  LONE_SURROGATE.lastIndex = 0;
  return !LONE_SURROGATE.test(s);
}

export function truncate(value: string, max: number): string {
  const clean = value.replaceAll('\u0000', '').replace(LONE_SURROGATE, '\uFFFD');
  if (clean.length <= max) return clean;
  return Array.from(clean).slice(0, max).join('');
}

/**
 * Why `value` cannot be stored as an alert's details, or null. Walked without recursion, so a
 * document nested 10,000 levels deep is measured, not a stack overflow: deeper than
 * LIMITS.detailsDepth is refused, as are strings or keys with NUL or lone surrogates (jsonb
 * refuses both). Keys such as `__proto__` are ordinary keys of data that is never interpreted.
 */
export function detailsProblem(value: unknown): string | null {
  // The wrapper object the routes build around custom_details (or labels) is level 0.
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop() as { v: unknown; depth: number };
    if (typeof v === 'string') {
      if (v.includes('\u0000') || !wellFormed(v)) return 'custom_details strings must be valid Unicode without NUL characters';
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth > LIMITS.detailsDepth) return `custom_details may be nested at most ${String(LIMITS.detailsDepth)} levels deep`;
    const entries = Array.isArray(v) ? v.map((item) => ['', item] as const) : Object.entries(v as Record<string, unknown>);
    for (const [k, item] of entries) {
      if (k.includes('\u0000') || !wellFormed(k)) return 'custom_details keys must be valid Unicode without NUL characters';
      stack.push({ v: item, depth: depth + 1 });
    }
  }
  return null;
}

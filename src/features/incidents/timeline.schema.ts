import { z } from 'zod';

export const TIMELINE_EVENT_TYPES = [
  'note',
  'status_changed',
  'severity_changed',
  'task_created',
  'task_completed',
  'status_update_posted',
  'acknowledged',
  'alert_triggered',
  'alert_acknowledged',
  'alert_resolved',
] as const;
export type TimelineEventType = (typeof TIMELINE_EVENT_TYPES)[number];

export const createTimelineEventBody = z
  .object({ message: z.string().trim().min(1).max(5000), occurredAt: z.iso.datetime({ offset: true }).optional() })
  .strict();
export type CreateTimelineEventInput = z.infer<typeof createTimelineEventBody>;

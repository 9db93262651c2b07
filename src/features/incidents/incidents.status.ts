import type { IncidentStatus } from './incidents.schema.js';

/**
 * The incident state machine: forward one step at a time, any open status straight to resolved,
 * and resolved back to investigating (reopen). A status never "moves" to itself.
 */
const NEXT: Record<IncidentStatus, readonly IncidentStatus[]> = {
  investigating: ['identified', 'resolved'],
  identified: ['monitoring', 'resolved'],
  monitoring: ['resolved'],
  resolved: ['investigating'],
};

export function allowedTransitions(from: IncidentStatus): IncidentStatus[] {
  return [...NEXT[from]];
}

export function canTransition(from: IncidentStatus, to: IncidentStatus): boolean {
  return NEXT[from].includes(to);
}

/**
 * The timestamp columns a transition into `to` sets: each forward step stamps its own time;
 * a reopen clears resolved_at (identified_at and monitoring_at keep the history of the first
 * pass until the incident goes through those statuses again).
 */
export function transitionStamps(to: IncidentStatus, now: Date): { identified_at?: Date; monitoring_at?: Date; resolved_at?: Date | null } {
  switch (to) {
    case 'identified':
      return { identified_at: now };
    case 'monitoring':
      return { monitoring_at: now };
    case 'resolved':
      return { resolved_at: now };
    case 'investigating':
      return { resolved_at: null };
  }
}

/** How the figures of a report read. */
import type { TFunction } from 'i18next';
import { formatDuration } from '../executions/format';

export function percent(rate: number | null | undefined): string {
  return rate == null ? '—' : `${(rate * 100).toLocaleString('fr-FR', { maximumFractionDigits: 1 })} %`;
}

export function count(value: number | null | undefined): string {
  return value == null ? '—' : value.toLocaleString('fr-FR');
}

export function seconds(value: number | null | undefined, t: TFunction): string {
  return formatDuration(value, t);
}

/** `2026-03-01` (a date picked in the period selector) as the UTC instant it starts. */
export function dayStart(day: string): string {
  return `${day}T00:00:00Z`;
}

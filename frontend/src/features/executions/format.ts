/** How an execution's figures read in the user's language. */
import type { TFunction } from 'i18next';

export function formatDuration(seconds: number | null | undefined, t: TFunction): string {
  if (seconds == null) return t('common.none');
  if (seconds < 60) return t('executions.seconds', { value: seconds.toFixed(seconds < 10 ? 2 : 1) });
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds % 60);
  return t('executions.minutes', { minutes, seconds: rest });
}

export function formatNumber(value: number | null | undefined, language: string, digits = 0): string {
  return value == null ? '—' : value.toLocaleString(language, { maximumFractionDigits: digits });
}

/** The system logs queries (TanStack Query over the one API client). */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { apiFetch, type QueryValue } from '../../api/client';
import type { components } from '../../api/schema';

export type SystemLog = components['schemas']['SystemLog'];
export type SystemLogPage = components['schemas']['SystemLogPage'];

/** The services that ship their lines (launcher order), and the levels. */
export const SERVICES = ['gateway', 'auth', 'registry', 'deployer', 'runner', 'scheduler', 'admin', 'reporting'] as const;
export const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;

export interface SystemLogFilters extends Record<string, QueryValue> {
  service?: string;
  level?: string;
  q?: string;
  request_id?: string;
  from?: string;
  to?: string;
}

export const syslogKeys = {
  all: ['syslogs'] as const,
  list: (params: Record<string, QueryValue>) => ['syslogs', 'list', params] as const,
};

export function fetchSystemLogs(params: SystemLogFilters & { page?: number; per_page?: number; after?: string }, signal?: AbortSignal) {
  return apiFetch<SystemLogPage>('/admin/logs', { query: params, signal });
}

export function useSystemLogs(params: SystemLogFilters & { page: number; per_page: number }) {
  return useQuery({
    queryKey: syslogKeys.list(params),
    queryFn: ({ signal }) => fetchSystemLogs(params, signal),
    placeholderData: keepPreviousData,
  });
}

/** New lines first, each line once (a follow poll may overlap what is shown). */
export function mergeNewest(fresh: SystemLog[], shown: SystemLog[], limit = 1000): SystemLog[] {
  const seen = new Set<string>();
  const out: SystemLog[] = [];
  for (const line of [...fresh, ...shown]) {
    if (seen.has(line.id)) continue;
    seen.add(line.id);
    out.push(line);
    if (out.length >= limit) break;
  }
  return out;
}

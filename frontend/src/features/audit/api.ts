/** « Journal d'audit »: GET /admin/audit (server-side pages and filters) and its CSV export. */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { apiFetch, downloadFile, type QueryValue } from '../../api/client';
import type { components } from '../../api/schema';

export type AuditEntry = components['schemas']['AuditEntry'];
export type AuditPage = components['schemas']['AuditPage'];

export interface AuditFilters extends Record<string, QueryValue> {
  user?: string;
  object_type?: string;
  object_id?: string;
  from?: string;
  to?: string;
}

export const auditKeys = {
  all: ['audit'] as const,
  list: (params: Record<string, QueryValue>) => ['audit', 'list', params] as const,
};

export function useAudit(params: AuditFilters & { page: number; per_page: number }) {
  return useQuery({
    queryKey: auditKeys.list(params),
    queryFn: ({ signal }) => apiFetch<AuditPage>('/admin/audit', { query: params, signal }),
    placeholderData: keepPreviousData,
  });
}

/** The filtered trail as CSV, with the bearer token (a plain link would have none). */
export function exportAudit(filters: AuditFilters): Promise<void> {
  return downloadFile('/admin/audit/export', 'audit.csv', filters);
}

/** The Executions queries and mutations (TanStack Query over the one API client). */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiFetch, downloadFile, saveBlob, type QueryValue } from '../../api/client';
import { executionKeys } from '../../api/keys';
import type { Execution, ExecutionPage } from '../../api/types';

export const ACTIVE_STATUSES = new Set(['queued', 'running']);
export const isActive = (execution?: Pick<Execution, 'status'> | null) =>
  Boolean(execution && ACTIVE_STATUSES.has(String(execution.status)));

/** How often a screen refreshes while something it shows is queued or running. */
export const POLL_MS = 2000;

export interface ExecutionListParams extends Record<string, QueryValue> {
  deployment_id?: string;
  model_id?: string;
  status?: string;
  trigger?: string;
  rerun_of?: string;
  /** created_at ≥ from, < to (ISO 8601), and the model's département / région. */
  from?: string;
  to?: string;
  department?: string;
  region?: string;
  sort?: string;
  page?: number;
  per_page?: number;
}

export function useExecutions(params: ExecutionListParams, enabled = true) {
  return useQuery({
    queryKey: executionKeys.list(params),
    queryFn: ({ signal }) => apiFetch<ExecutionPage>('/executions', { query: params, signal }),
    placeholderData: keepPreviousData,
    enabled,
    refetchInterval: (query) => (query.state.data?.items.some(isActive) ? POLL_MS : false),
  });
}

export function useExecution(id: string) {
  return useQuery({
    queryKey: executionKeys.detail(id),
    queryFn: ({ signal }) => apiFetch<Execution>(`/executions/${encodeURIComponent(id)}`, { signal }),
    refetchInterval: (query) => (isActive(query.state.data) ? POLL_MS : false),
  });
}

export interface LogLine {
  n: number;
  ts: string;
  level: string;
  message: string;
}
export interface LogChunk {
  lines: LogLine[];
  next: number;
  status?: string;
}

export const LOG_PAGE = 1000;

/** New lines after `after` (used to follow a running execution). */
export function fetchLogsAfter(id: string, after: number) {
  return apiFetch<LogChunk>(`/executions/${encodeURIComponent(id)}/logs`, {
    query: { after, limit: LOG_PAGE },
  });
}

export interface ResultsPreview {
  columns: string[];
  rows: unknown[][];
  total?: number | null;
  format?: string;
}

export function useResultsPreview(id: string, enabled: boolean) {
  return useQuery({
    queryKey: executionKeys.sub(id, 'preview'),
    queryFn: ({ signal }) =>
      apiFetch<ResultsPreview>(`/executions/${encodeURIComponent(id)}/results/preview`, {
        query: { limit: 20 },
        signal,
      }),
    enabled,
    staleTime: Infinity,
  });
}

export function downloadResults(id: string, format: 'csv' | 'json' | 'parquet') {
  return downloadFile(`/executions/${encodeURIComponent(id)}/results`, `execution-${id}-results.${format}`, {
    format,
  });
}

/** The whole log as a text file, read page by page. */
export async function downloadLogs(id: string): Promise<void> {
  const lines: string[] = [];
  let after = 0;
  for (;;) {
    const chunk = await fetchLogsAfter(id, after);
    for (const line of chunk.lines) lines.push(`${line.ts} ${line.level} ${line.message}`);
    if (chunk.lines.length < LOG_PAGE) break;
    after = chunk.next;
  }
  saveBlob(new Blob([lines.join('\n') + '\n'], { type: 'text/plain' }), `execution-${id}-logs.txt`);
}

export function useCancelExecution() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      apiFetch<Execution>(`/executions/${encodeURIComponent(id)}/cancel`, { method: 'POST' }),
    onSuccess: (execution) => {
      client.setQueryData(executionKeys.detail(execution.id), execution);
      void client.invalidateQueries({ queryKey: executionKeys.all });
    },
  });
}

export function useRerunExecution() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      apiFetch<Execution>(`/executions/${encodeURIComponent(id)}/rerun`, { method: 'POST' }),
    onSuccess: () => void client.invalidateQueries({ queryKey: executionKeys.all }),
  });
}

/** The four reports of API.md (JSON for the screens, CSV for the export). */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { apiFetch, buildQuery, downloadFile, type QueryValue } from '../../api/client';
import { modelKeys } from '../../api/keys';
import type { ModelFacets } from '../../api/types';
import type { components } from '../../api/schema';

type Schemas = components['schemas'];
export type ModelPerformance = Schemas['ModelPerformance'];
export type ModelPerformanceItem = Schemas['ModelPerformanceItem'];
export type ExecutionTrends = Schemas['ExecutionTrends'];
export type TrendPoint = Schemas['TrendPoint'];
export type DepartmentUsage = Schemas['DepartmentUsage'];
export type DepartmentUsageItem = Schemas['DepartmentUsageItem'];
export type DeploymentStatus = Schemas['DeploymentStatus'];
export type DeploymentStatusItem = Schemas['DeploymentStatusItem'];

export const REPORTS = ['model-performance', 'execution-trends', 'department-usage', 'deployment-status'] as const;
export type ReportName = (typeof REPORTS)[number];

export type ReportParams = Record<string, QueryValue>;

export const reportKeys = {
  all: ['reports'] as const,
  one: (name: ReportName, params: ReportParams) => ['reports', name, params] as const,
};

export function useReport<T>(name: ReportName, params: ReportParams) {
  return useQuery({
    queryKey: reportKeys.one(name, params),
    queryFn: ({ signal }) => apiFetch<T>(`/reports/${name}`, { query: params, signal }),
    placeholderData: keepPreviousData,
  });
}

/** The report as the API's CSV (same filters), saved under the server's file name. */
export function exportReport(name: ReportName, params: ReportParams) {
  return downloadFile(`/reports/${name}`, `report-${name}.csv`, { ...params, format: 'csv' });
}

export function useFacets() {
  return useQuery({
    queryKey: modelKeys.sub('all', 'facets'),
    queryFn: ({ signal }) => apiFetch<ModelFacets>('/models/facets', { signal }),
    staleTime: 60_000,
    retry: false,
  });
}

/** The Exécutions list filtered like a figure of a report (from inclusive, to exclusive). */
export function executionsLink(filters: Record<string, string | null | undefined>): string {
  const query: Record<string, string> = {};
  for (const [key, value] of Object.entries(filters)) if (value) query[key] = value;
  return `/executions${buildQuery(query)}`;
}

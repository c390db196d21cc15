/** The Deployments queries and mutations (TanStack Query over the one API client). */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiFetch, apiUpload, type QueryValue } from '../../api/client';
import { deploymentKeys, executionKeys, modelKeys } from '../../api/keys';
import type {
  Deployment,
  DeploymentPage,
  DeploymentWrite,
  ExecutionPage,
  Model,
  ModelFacets,
  ModelPage,
  SchedulePreview,
} from '../../api/types';

export interface DeploymentListParams extends Record<string, QueryValue> {
  q?: string;
  department?: string;
  region?: string;
  status?: string;
  model_id?: string;
  sort?: string;
  page?: number;
  per_page?: number;
}

const path = (id: string, rest = '') => `/deployments/${encodeURIComponent(id)}${rest}`;
const RUNNING = new Set(['queued', 'running']);

export function useDeployments(params: DeploymentListParams) {
  return useQuery({
    queryKey: deploymentKeys.list(params),
    queryFn: ({ signal }) => apiFetch<DeploymentPage>('/deployments', { query: params, signal }),
    placeholderData: keepPreviousData,
  });
}

export function useDeployment(id: string) {
  return useQuery({
    queryKey: deploymentKeys.detail(id),
    queryFn: ({ signal }) => apiFetch<Deployment>(path(id), { signal }),
    enabled: Boolean(id),
    // Its last execution moves while a run is queued or running.
    refetchInterval: (query) =>
      RUNNING.has(String(query.state.data?.last_execution?.status ?? '')) ? 3000 : false,
  });
}

/** Département / région values: a deployment's come from its model. */
export function useDepartmentRegionFacets() {
  return useQuery({
    queryKey: modelKeys.sub('all', 'facets'),
    queryFn: ({ signal }) => apiFetch<ModelFacets>('/models/facets', { signal }),
    staleTime: 60_000,
  });
}

/** Models for the searchable "Modèle" select (only ready ones can be deployed). */
export function useModelChoices(q: string, readyOnly: boolean) {
  const params = { q: q || undefined, status: readyOnly ? 'ready' : undefined, sort: 'name', per_page: 50 };
  return useQuery({
    queryKey: modelKeys.list(params),
    queryFn: ({ signal }) => apiFetch<ModelPage>('/models', { query: params, signal }),
    placeholderData: keepPreviousData,
  });
}

export function useModelSummary(id: string | undefined) {
  return useQuery({
    queryKey: modelKeys.detail(id ?? ''),
    queryFn: ({ signal }) => apiFetch<Model>(`/models/${encodeURIComponent(id ?? '')}`, { signal }),
    enabled: Boolean(id),
  });
}

/** The next run times of a saved deployment (in its own zone). */
export function useSchedulePreview(deployment: Pick<Deployment, 'id' | 'schedule' | 'timezone'>, count = 5) {
  return useQuery({
    queryKey: deploymentKeys.sub(deployment.id, 'preview', {
      count,
      schedule: deployment.schedule ?? '',
      timezone: deployment.timezone ?? '',
    }),
    queryFn: ({ signal }) =>
      apiFetch<SchedulePreview>(path(deployment.id, '/schedule/preview'), { query: { count }, signal }),
    enabled: Boolean(deployment.schedule),
  });
}

/** The next run times of an expression being typed (no deployment needed). */
export function useExpressionPreview(schedule: string, timezone: string, enabled: boolean, count = 5) {
  const params = { schedule, timezone, count };
  return useQuery({
    queryKey: deploymentKeys.sub('new', 'preview', params),
    queryFn: ({ signal }) => apiFetch<SchedulePreview>('/deployments/schedule/preview', { query: params, signal }),
    enabled: enabled && Boolean(schedule.trim()),
    retry: false,
    staleTime: 30_000,
  });
}

export function useDeploymentExecutions(id: string, page: number, perPage = 10) {
  const params = { deployment_id: id, sort: '-created_at', page, per_page: perPage };
  return useQuery({
    queryKey: executionKeys.list(params),
    queryFn: ({ signal }) => apiFetch<ExecutionPage>('/executions', { query: params, signal }),
    placeholderData: keepPreviousData,
    // Poll only while something is queued or running.
    refetchInterval: (query) =>
      query.state.data?.items.some((item) => RUNNING.has(String(item.status))) ? 3000 : false,
  });
}

function useSettle() {
  const client = useQueryClient();
  return (deployment?: Deployment) => {
    if (deployment) client.setQueryData(deploymentKeys.detail(deployment.id), deployment);
    void client.invalidateQueries({ queryKey: deploymentKeys.all });
  };
}

/** Create, or edit (`id`): the JSON fields only; the dataset goes through `useUploadInput`. */
export function useSaveDeployment() {
  const settle = useSettle();
  return useMutation({
    mutationFn: ({ id, data }: { id?: string; data: Partial<DeploymentWrite> }) =>
      id
        ? apiFetch<Deployment>(path(id), { method: 'PATCH', json: data })
        : apiFetch<Deployment>('/deployments', { method: 'POST', json: data }),
    onSuccess: (deployment) => settle(deployment),
  });
}

/** `PUT /deployments/{id}/input` with upload progress; resolves with the deployment. */
export function useUploadInput() {
  const settle = useSettle();
  return useMutation({
    mutationFn: ({ id, file, onProgress }: { id: string; file: File; onProgress?: (fraction: number) => void }) => {
      const form = new FormData();
      form.append('file', file, file.name);
      return apiUpload<Deployment>(path(id, '/input'), form, { method: 'PUT', onProgress });
    },
    onSuccess: (deployment) => settle(deployment),
  });
}

/** "Démarrer" / "Arrêter". */
export function useStartStop() {
  const settle = useSettle();
  return useMutation({
    mutationFn: ({ id, action }: { id: string; action: 'start' | 'stop' }) =>
      apiFetch<Deployment>(path(id, `/${action}`), { method: 'POST' }),
    onSuccess: (deployment) => settle(deployment),
  });
}

export function useDeleteDeployment() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => apiFetch<void>(path(id), { method: 'DELETE' }),
    onSuccess: (_, id) => {
      client.removeQueries({ queryKey: deploymentKeys.detail(id) });
      void client.invalidateQueries({ queryKey: deploymentKeys.all });
    },
  });
}

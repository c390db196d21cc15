/** The Models queries and mutations (TanStack Query over the one API client). */
import { keepPreviousData, queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiFetch, apiUpload, downloadFile, type QueryValue } from '../../api/client';
import { deploymentKeys, executionKeys, modelKeys } from '../../api/keys';
import type { DeploymentPage, ExecutionPage, Model, ModelFacets, ModelPage, ModelWrite } from '../../api/types';

export interface ModelListParams extends Record<string, QueryValue> {
  q?: string;
  department?: string;
  region?: string;
  status?: string;
  sort?: string;
  page?: number;
  per_page?: number;
}

/** One page of the list: the same key and call for `useModels` and a prefetch. */
export function modelListQuery(params: ModelListParams) {
  return queryOptions({
    queryKey: modelKeys.list(params),
    queryFn: ({ signal }) => apiFetch<ModelPage>('/models', { query: params, signal }),
    // The page a filter change fetched before the URL moved is still fresh when the
    // list re-renders on the new URL: no second request for it. Writes invalidate it.
    staleTime: 2_000,
  });
}

export function useModels(params: ModelListParams) {
  return useQuery({ ...modelListQuery(params), placeholderData: keepPreviousData });
}

export function useModelFacets() {
  return useQuery({
    queryKey: modelKeys.sub('all', 'facets'),
    queryFn: ({ signal }) => apiFetch<ModelFacets>('/models/facets', { signal }),
    // The registry reuses its answer for 30 s; a failure is not retried (the filters
    // then offer nothing, the list still works).
    staleTime: 5 * 60_000,
    retry: false,
  });
}

export function useModel(id: string) {
  return useQuery({
    queryKey: modelKeys.detail(id),
    queryFn: ({ signal }) => apiFetch<Model>(`/models/${encodeURIComponent(id)}`, { signal }),
    enabled: Boolean(id),
  });
}

export function useModelVersions(id: string) {
  return useQuery({
    queryKey: modelKeys.sub(id, 'versions'),
    queryFn: ({ signal }) => apiFetch<Model[]>(`/models/${encodeURIComponent(id)}/versions`, { signal }),
  });
}

export function useModelDeployments(id: string, enabled = true) {
  const params = { model_id: id, per_page: 50, sort: '-created_at' };
  return useQuery({
    queryKey: deploymentKeys.list(params),
    queryFn: ({ signal }) => apiFetch<DeploymentPage>('/deployments', { query: params, signal }),
    enabled,
  });
}

const RUNNING = new Set(['queued', 'running']);

export function useModelExecutions(id: string, enabled = true) {
  const params = { model_id: id, per_page: 20, sort: '-created_at' };
  return useQuery({
    queryKey: executionKeys.list(params),
    queryFn: ({ signal }) => apiFetch<ExecutionPage>('/executions', { query: params, signal }),
    enabled,
    // Poll only while something is queued or running.
    refetchInterval: (query) =>
      query.state.data?.items.some((item) => RUNNING.has(String(item.status))) ? 3000 : false,
  });
}

/** Create (with an optional file: one multipart call with progress) or edit. */
export function useSaveModel() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (input: {
      id?: string;
      data: Partial<ModelWrite>;
      file?: File | null;
      onProgress?: (fraction: number) => void;
    }): Promise<Model> => {
      const { id, data, file, onProgress } = input;
      if (id) {
        const model = await apiFetch<Model>(`/models/${encodeURIComponent(id)}`, {
          method: 'PATCH',
          json: data,
        });
        if (!file) return model;
        const form = new FormData();
        form.append('file', file, file.name);
        return apiUpload<Model>(`/models/${encodeURIComponent(id)}/file`, form, {
          method: 'PUT',
          onProgress,
        });
      }
      const form = new FormData();
      form.append('metadata', new Blob([JSON.stringify(data)], { type: 'application/json' }));
      if (file) form.append('file', file, file.name);
      return apiUpload<Model>('/models', form, { onProgress });
    },
    onSuccess: (model) => {
      client.setQueryData(modelKeys.detail(model.id), model);
      void client.invalidateQueries({ queryKey: modelKeys.all });
    },
  });
}

export function useDeleteModel() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => apiFetch<void>(`/models/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSuccess: (_, id) => {
      client.removeQueries({ queryKey: modelKeys.detail(id) });
      void client.invalidateQueries({ queryKey: modelKeys.all });
    },
  });
}

export function downloadModelFile(model: Model): Promise<void> {
  return downloadFile(`/models/${encodeURIComponent(model.id)}/file`, model.file?.filename ?? 'model.bin');
}

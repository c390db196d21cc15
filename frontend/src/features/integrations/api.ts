/** The Intégrations queries and mutations (TanStack Query over the one API client). */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiFetch, type QueryValue } from '../../api/client';
import type { components } from '../../api/schema';

type Schemas = components['schemas'];
export type Integration = Schemas['Integration'];
export type IntegrationCreated = Schemas['IntegrationCreated'];
export type IntegrationWrite = Schemas['IntegrationWrite'];
export type IntegrationUpdate = Schemas['IntegrationUpdate'];
export type IntegrationPage = Schemas['IntegrationPage'];
export type Delivery = Schemas['Delivery'];
export type DeliveryPage = Schemas['DeliveryPage'];
export type WebhookEvent = NonNullable<Integration['events']>[number];

/** The events an integration may subscribe to (the API's names), in the order. */
export const WEBHOOK_EVENTS: WebhookEvent[] = [
  'execution_succeeded',
  'execution_failed',
  'execution_timed_out',
  'deployment_started',
  'deployment_stopped',
  'model_created',
  'model_updated',
  'backup_succeeded',
  'backup_failed',
];

export const integrationKeys = {
  all: ['integrations'] as const,
  list: (params: Record<string, QueryValue>) => ['integrations', 'list', params] as const,
  detail: (id: string) => ['integrations', 'detail', id] as const,
  deliveries: (id: string, params: Record<string, QueryValue>) => ['integrations', 'detail', id, 'deliveries', params] as const,
};

const path = (id: string, what = '') => `/integrations/${encodeURIComponent(id)}${what}`;

export function useIntegrations(params: { page: number; per_page: number }) {
  return useQuery({
    queryKey: integrationKeys.list(params),
    queryFn: ({ signal }) => apiFetch<IntegrationPage>('/integrations', { query: params, signal }),
    placeholderData: keepPreviousData,
  });
}

export function useIntegration(id: string) {
  return useQuery({
    queryKey: integrationKeys.detail(id),
    queryFn: ({ signal }) => apiFetch<Integration>(path(id), { signal }),
  });
}

/** The delivery log; polled quickly while a delivery is still on its way. */
export function useDeliveries(id: string, params: { page: number; per_page: number }) {
  return useQuery({
    queryKey: integrationKeys.deliveries(id, params),
    queryFn: ({ signal }) => apiFetch<DeliveryPage>(path(id, '/deliveries'), { query: params, signal }),
    placeholderData: keepPreviousData,
    refetchInterval: (query) =>
      query.state.data?.items.some((d) => d.status === 'pending' || d.status === 'sending') ? 1500 : 10_000,
  });
}

function useIntegrationMutation<A, R>(call: (args: A) => Promise<R>) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: call,
    onSuccess: () => void client.invalidateQueries({ queryKey: integrationKeys.all }),
  });
}

export function useCreateIntegration() {
  return useIntegrationMutation((data: IntegrationWrite) =>
    apiFetch<IntegrationCreated>('/integrations', { method: 'POST', json: data }),
  );
}

export function useUpdateIntegration() {
  return useIntegrationMutation(({ id, changes }: { id: string; changes: IntegrationUpdate }) =>
    apiFetch<Integration>(path(id), { method: 'PATCH', json: changes }),
  );
}

export function useDeleteIntegration() {
  return useIntegrationMutation((id: string) => apiFetch<void>(path(id), { method: 'DELETE' }));
}

export function useTestIntegration() {
  return useIntegrationMutation((id: string) => apiFetch<Delivery>(path(id, '/test'), { method: 'POST' }));
}

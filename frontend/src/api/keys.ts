/**
 * The query-key factories: one per resource, shared by every feature so an
 * invalidation after a mutation reaches every screen that shows the resource.
 *
 *   useQuery({ queryKey: modelKeys.list(params), ... })
 *   queryClient.invalidateQueries({ queryKey: modelKeys.all })
 */
import type { QueryValue } from './client';

type Params = Record<string, QueryValue>;

function factory<const R extends string>(resource: R) {
  return {
    all: [resource] as const,
    lists: () => [resource, 'list'] as const,
    list: (params: Params) => [resource, 'list', params] as const,
    details: () => [resource, 'detail'] as const,
    detail: (id: string) => [resource, 'detail', id] as const,
    /** Anything hanging off one item (versions, logs, preview...). */
    sub: (id: string, what: string, params?: Params) =>
      [resource, 'detail', id, what, ...(params ? [params] : [])] as const,
  };
}

export const modelKeys = factory('models');
export const deploymentKeys = factory('deployments');
export const executionKeys = factory('executions');
export const userKeys = factory('users');
export const meKeys = { all: ['me'] as const };

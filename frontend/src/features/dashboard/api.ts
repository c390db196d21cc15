/** GET /dashboard, refreshing itself. */
import { useQuery } from '@tanstack/react-query';
import { apiFetch } from '../../api/client';
import type { components } from '../../api/schema';

export type Dashboard = components['schemas']['Dashboard'];
export type Activity = components['schemas']['Activity'];

/** How often the dashboard asks again (it is pre-aggregated: a cheap read). */
export const DASHBOARD_REFRESH_MS = 15_000;

export const dashboardKeys = { all: ['dashboard'] as const };

export function useDashboard() {
  return useQuery({
    queryKey: dashboardKeys.all,
    queryFn: ({ signal }) => apiFetch<Dashboard>('/dashboard', { signal }),
    refetchInterval: DASHBOARD_REFRESH_MS,
  });
}

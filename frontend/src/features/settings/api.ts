/** « Paramètres globaux »: GET | PUT /admin/settings. */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiFetch } from '../../api/client';
import type { components } from '../../api/schema';

export type Settings = components['schemas']['Settings'];
export type SettingValue = string | number | boolean | string[] | null;

export const settingsKeys = { all: ['settings'] as const };

export function useSettings() {
  return useQuery({
    queryKey: settingsKeys.all,
    queryFn: ({ signal }) => apiFetch<Record<string, SettingValue>>('/admin/settings', { signal }),
  });
}

export function useSaveSettings() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (changes: Record<string, SettingValue>) =>
      apiFetch<Record<string, SettingValue>>('/admin/settings', { method: 'PUT', json: changes }),
    onSuccess: (saved) => client.setQueryData(settingsKeys.all, saved),
  });
}

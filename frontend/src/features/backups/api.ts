/** Backups and restores: TanStack Query over the one API client. A list with a running
 * backup, and a running restore, are polled until they end. */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiFetch, apiUpload, downloadFile } from '../../api/client';
import type { components } from '../../api/schema';

export type Backup = components['schemas']['Backup'];
export type BackupPage = components['schemas']['BackupPage'];
export type Restore = components['schemas']['Restore'];
export type RestorePage = components['schemas']['RestorePage'];

export const backupKeys = {
  all: ['backups'] as const,
  list: (page: number, perPage: number) => ['backups', 'list', page, perPage] as const,
  restores: ['restores'] as const,
  restore: (id: string) => ['restores', id] as const,
};

const POLL_MS = 1000;

export function useBackups(page: number, perPage: number) {
  return useQuery({
    queryKey: backupKeys.list(page, perPage),
    queryFn: ({ signal }) => apiFetch<BackupPage>('/admin/backups', { query: { page, per_page: perPage }, signal }),
    refetchInterval: (query) => (query.state.data?.items.some((b) => b.status === 'running') ? POLL_MS : false),
  });
}

/** The newest restore (the progress panel), polled while it runs. */
export function useLatestRestore() {
  return useQuery({
    queryKey: backupKeys.restores,
    queryFn: ({ signal }) => apiFetch<RestorePage>('/admin/restores', { query: { page: 1, per_page: 1 }, signal }),
    select: (page) => page.items[0] ?? null,
    refetchInterval: (query) => (query.state.data?.items[0]?.status === 'running' ? POLL_MS : false),
  });
}

export function useCreateBackup() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => apiFetch<Backup>('/admin/backups', { method: 'POST' }),
    onSuccess: () => void client.invalidateQueries({ queryKey: backupKeys.all }),
  });
}

export function useRestore() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (source: { backupId: string } | { file: File }) => {
      if ('backupId' in source) {
        return apiFetch<Restore>('/admin/restore', { method: 'POST', json: { backup_id: source.backupId } });
      }
      const form = new FormData();
      form.append('file', source.file, source.file.name);
      return apiUpload<Restore>('/admin/restore', form);
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: backupKeys.restores });
      void client.invalidateQueries({ queryKey: backupKeys.all });
    },
  });
}

export function downloadBackup(backup: Backup) {
  return downloadFile(`/admin/backups/${encodeURIComponent(backup.id)}/download`, backup.filename ?? `backup-${backup.id}.tar.gz`);
}

/** 1536 → "1,5 Ko" (French units). */
export function formatSize(bytes: number | null | undefined, locale = 'fr-FR'): string {
  if (bytes === null || bytes === undefined) return '—';
  const units = ['o', 'Ko', 'Mo', 'Go', 'To'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 ? 0 : 1;
  return `${value.toLocaleString(locale, { maximumFractionDigits: digits })} ${units[unit]}`;
}

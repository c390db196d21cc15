import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import BackupsPage from './BackupsPage';
import { formatSize } from './api';
import { envelope, page, server } from '../../test/server';
import { renderPage } from '../../test/render';

const user = userEvent.setup({ delay: null });

const SUCCEEDED = {
  id: 'b1', status: 'succeeded', trigger: 'manual', created_at: '2026-01-02T10:00:00Z', finished_at: '2026-01-02T10:00:05Z',
  size: 1536, sha256: 'a'.repeat(64), filename: 'backup-b1.tar.gz', counts: { models: 2 },
  summary: { models: 2, deployments: 1, executions: 3, users: 5, files: 6 }, error: null,
};
const FAILED = {
  id: 'b0', status: 'failed', trigger: 'schedule', created_at: '2026-01-01T10:00:00Z', size: null, counts: {},
  summary: null, error: 'the backup worker failed: disk full',
};

function mock(restores: unknown[] = []) {
  server.use(
    http.get('/api/v1/admin/backups', () => HttpResponse.json(page([SUCCEEDED, FAILED]))),
    http.get('/api/v1/admin/restores', () => HttpResponse.json(page(restores))),
  );
}

describe('BackupsPage', () => {
  it('lists the backups with date, status, size and counts, and why one failed', async () => {
    mock();
    renderPage(<BackupsPage />, { route: '/admin/backups', role: 'admin' });
    expect(await screen.findByRole('heading', { name: 'Sauvegarde et restauration' })).toBeInTheDocument();
    const row = (await screen.findByText('1,5 Ko')).closest('tr')!;
    expect(within(row).getByText('Réussie')).toBeInTheDocument();
    expect(within(row).getByText(/2 modèles · 1 déploiement · 3 exécutions · 5 utilisateurs · 6 fichiers/)).toBeInTheDocument();
    const failed = screen.getByText('the backup worker failed: disk full').closest('tr')!;
    expect(within(failed).getByText('Échouée')).toBeInTheDocument();
    expect(within(failed).getByText('Planifiée')).toBeInTheDocument();
    expect(within(failed).queryByRole('button', { name: /Restaurer/ })).toBeNull();
  });

  it('creates a backup', async () => {
    mock();
    let posted = false;
    server.use(
      http.post('/api/v1/admin/backups', () => {
        posted = true;
        return HttpResponse.json({ ...SUCCEEDED, id: 'b2', status: 'running' }, { status: 202 });
      }),
    );
    renderPage(<BackupsPage />, { route: '/admin/backups', role: 'admin' });
    await screen.findByText('1,5 Ko');
    await user.click(screen.getByRole('button', { name: /Créer une sauvegarde/ }));
    await waitFor(() => expect(posted).toBe(true));
  });

  it('restores a listed backup only after a confirmation that says what it replaces', async () => {
    mock();
    let body: unknown;
    server.use(
      http.post('/api/v1/admin/restore', async ({ request }) => {
        body = await request.json();
        return HttpResponse.json({ id: 'r1', status: 'running', phase: 'verifying', created_at: '2026-01-02T11:00:00Z', progress: { done: 0, total: 0 } }, { status: 202 });
      }),
    );
    renderPage(<BackupsPage />, { route: '/admin/backups', role: 'admin' });
    const row = (await screen.findByText('1,5 Ko')).closest('tr')!;
    await user.click(within(row).getByRole('button', { name: /^Restaurer / }));
    const confirm = await screen.findByRole('dialog');
    expect(within(confirm).getByText(/Toutes les données actuelles seront remplacées/)).toBeInTheDocument();
    expect(within(confirm).getByText(/Le journal d'audit est conservé/)).toBeInTheDocument();
    expect(body).toBeUndefined();
    await user.click(within(confirm).getByRole('button', { name: 'Restaurer' }));
    await waitFor(() => expect(body).toEqual({ backup_id: 'b1' }));
  });

  it('shows a running restore with its phase, and a failed one with its reason', async () => {
    mock([{ id: 'r1', status: 'running', phase: 'restoring', created_at: '2026-01-02T11:00:00Z', progress: { done: 3, total: 12 } }]);
    const { unmount } = renderPage(<BackupsPage />, { route: '/admin/backups', role: 'admin' });
    expect(await screen.findByText('Restauration en cours')).toBeInTheDocument();
    expect(screen.getByText('Restauration des données…')).toBeInTheDocument();
    expect(screen.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '25');
    unmount();
    mock([{ id: 'r0', status: 'failed', phase: 'done', created_at: '2026-01-02T11:00:00Z', error: 'collection models: sha256 does not match the manifest (nothing was changed)' }]);
    renderPage(<BackupsPage />, { route: '/admin/backups', role: 'admin' });
    expect(await screen.findByText('La restauration a échoué')).toBeInTheDocument();
    expect(screen.getByText(/sha256 does not match/)).toBeInTheDocument();
  });

  it('says in French why an uploaded archive was refused', async () => {
    mock();
    server.use(
      http.post('/api/v1/admin/restore', () =>
        HttpResponse.json(envelope('validation_error', 'file: the archive is truncated', { file: ['truncated or damaged archive'], reason: 'truncated' }), { status: 400 }),
      ),
    );
    renderPage(<BackupsPage />, { route: '/admin/backups', role: 'admin' });
    await screen.findByText('1,5 Ko');
    const input = document.querySelector('input[type=file]') as HTMLInputElement;
    await user.upload(input, new File([new Uint8Array([31, 139, 8])], 'coupee.tar.gz', { type: 'application/gzip' }));
    const confirm = await screen.findByRole('dialog');
    expect(within(confirm).getByText(/L'archive « coupee.tar.gz » va être vérifiée/)).toBeInTheDocument();
    await user.click(within(confirm).getByRole('button', { name: 'Restaurer' }));
    expect(await screen.findByText(/L'archive est tronquée ou endommagée\s: rien n'a été modifié\./)).toBeInTheDocument();
  });

  it('formats sizes in French units', () => {
    expect(formatSize(512)).toBe('512 o');
    expect(formatSize(5 * 1024 * 1024)).toBe('5 Mo');
    expect(formatSize(null)).toBe('—');
  });
});

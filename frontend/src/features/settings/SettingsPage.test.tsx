import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import SettingsPage, { changes } from './SettingsPage';
import { server } from '../../test/server';
import { renderPage } from '../../test/render';

const user = userEvent.setup({ delay: null });

const SETTINGS = {
  default_timezone: 'Europe/Paris',
  default_execution_timeout_s: 3600,
  max_execution_timeout_s: 86400,
  max_upload_mb: 200,
  retention_days: 0,
  log_retention_days: 0,
  result_retention_days: 0,
  login_max_failures: 5,
  login_lockout_s: 300,
  webhook_allowed_hosts: ['10.0.0.0/8'],
  max_memory_mb: 4096,
  backup_keep: 7,
};

function field(label: string) {
  return screen.getByLabelText(label);
}

// Dialogs and typing are slow on a loaded CI machine: a generous bound, not 60 s.
describe('SettingsPage', { timeout: 120_000 }, () => {
  it('shows every setting with its French label, unknown ones under their API name', async () => {
    server.use(http.get('/api/v1/admin/settings', () => HttpResponse.json(SETTINGS)));
    renderPage(<SettingsPage />, { route: '/admin/settings', role: 'admin' });
    expect(await screen.findByRole('heading', { name: 'Paramètres globaux' })).toBeInTheDocument();
    expect(await screen.findByLabelText("Délai d'exécution par défaut (secondes)")).toHaveValue('3600');
    expect(field('Taille maximale des fichiers envoyés (Mo)')).toHaveValue('200');
    expect(field('Conservation des exécutions (jours)')).toBeInTheDocument();
    expect(field("Conservation des journaux d'exécution (jours)")).toBeInTheDocument();
    expect(field('Conservation des résultats (jours)')).toBeInTheDocument();
    expect(field('Échecs de connexion avant verrouillage')).toHaveValue('5');
    expect(field('Durée du verrouillage (secondes)')).toHaveValue('300');
    expect(field('Mémoire maximale par déploiement ou exécution (Mo)')).toHaveValue('4096');
    expect(screen.getByText('10.0.0.0/8')).toBeInTheDocument();
    expect(screen.getByText('Europe/Paris')).toBeInTheDocument();
    expect(field('backup_keep')).toHaveValue('7');
  });

  it('sends only what changed and says it is saved', async () => {
    let body: unknown;
    server.use(
      http.get('/api/v1/admin/settings', () => HttpResponse.json(SETTINGS)),
      http.put('/api/v1/admin/settings', async ({ request }) => {
        body = await request.json();
        return HttpResponse.json({ ...SETTINGS, max_upload_mb: 300 });
      }),
    );
    renderPage(<SettingsPage />, { route: '/admin/settings', role: 'admin' });
    const upload = await screen.findByLabelText('Taille maximale des fichiers envoyés (Mo)');
    await user.clear(upload);
    await user.type(upload, '300');
    await user.click(screen.getByRole('button', { name: 'Enregistrer' }));
    expect(await screen.findByText(/Paramètres enregistrés/)).toBeInTheDocument();
    expect(body).toEqual({ max_upload_mb: 300 });
  });

  it("shows the server's refusal in French next to the field it names", async () => {
    server.use(
      http.get('/api/v1/admin/settings', () => HttpResponse.json(SETTINGS)),
      http.put('/api/v1/admin/settings', () =>
        HttpResponse.json(
          { error: { code: 'validation_error', message: 'invalid settings: login_max_failures', details: { login_max_failures: ['must be between 1 and 1000'] } } },
          { status: 400 },
        ),
      ),
    );
    renderPage(<SettingsPage />, { route: '/admin/settings', role: 'admin' });
    const failures = await screen.findByLabelText('Échecs de connexion avant verrouillage');
    await user.clear(failures);
    await user.type(failures, '0');
    await user.click(screen.getByRole('button', { name: 'Enregistrer' }));
    const error = await screen.findByText('Doit être compris entre 1 et 1000.');
    expect(error.closest('.ant-form-item')).toHaveTextContent('Échecs de connexion avant verrouillage');
    expect(screen.getByRole('alert')).toHaveTextContent('Certains paramètres ont été refusés');
    await waitFor(() => expect(screen.queryByText(/Paramètres enregistrés/)).toBeNull());
  });

  it('computes the changes with trimmed host lists', () => {
    expect(changes(SETTINGS, { ...SETTINGS, webhook_allowed_hosts: [' 127.0.0.1 ', ''] })).toEqual({ webhook_allowed_hosts: ['127.0.0.1'] });
    expect(changes(SETTINGS, SETTINGS)).toEqual({});
  });
});

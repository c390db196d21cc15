import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import DeploymentDetailPage from './DeploymentDetailPage';
import { page, server } from '../../test/server';
import { renderRoutes } from '../../test/render';

const user = userEvent.setup({ delay: null });
/** A loaded machine renders Ant Design slowly: wait up to 15 s for what appears. */
const SLOW = [{}, { timeout: 15_000 }] as const;

const DEPLOYMENT = {
  id: 'd1',
  name: 'score-nuit',
  description: 'Score des lots',
  model_id: 'm1',
  model: { name: 'arbre-vins', version: '1.0.0' },
  status: 'inactive',
  department: 'Finance',
  region: 'Europe',
  schedule: '30 2 * * 1-5',
  timezone: 'Europe/Paris',
  misfire_policy: 'skip',
  max_concurrent: 2,
  jitter_s: 0,
  parameters: { output_format: 'json', seuil: 0.5 },
  input: { filename: 'lot.csv', format: 'csv', rows: 2, columns: ['a', 'b'], size: 20, uploaded_at: '2026-01-01T10:00:00Z' },
  next_run_at: null,
  last_execution: { id: 'e1', status: 'succeeded', time: '2026-01-01T11:00:00Z' },
  history: [{ at: '2026-01-01T12:00:00Z', by: 'datascientist', field: 'schedule', old: '0 6 * * *', new: '30 2 * * 1-5' }],
  created_by: 'datascientist',
  created_at: '2026-01-01T09:00:00Z',
  updated_at: '2026-01-01T12:00:00Z',
};

function mockApi() {
  const calls: string[] = [];
  server.use(
    http.get('/api/v1/deployments/d1', () => HttpResponse.json(DEPLOYMENT)),
    http.get('/api/v1/models/m1', () => HttpResponse.json({ id: 'm1', name: 'arbre-vins', version: '1.0.0', input_schema: [{ name: 'a' }, { name: 'b' }] })),
    http.get('/api/v1/deployments/d1/schedule/preview', () =>
      HttpResponse.json({ timezone: 'Europe/Paris', next_runs: [{ utc: '2026-03-02T01:30:00Z', local: '2026-03-02T02:30:00+01:00' }] }),
    ),
    http.get('/api/v1/executions', ({ request }) => {
      calls.push(new URL(request.url).search);
      return HttpResponse.json(page([{ id: 'e1', status: 'succeeded', trigger: 'schedule', started_at: '2026-01-01T10:59:00Z', duration_s: 1.25 }]));
    }),
    http.post('/api/v1/deployments/d1/stop', () => { calls.push('stop'); return HttpResponse.json(DEPLOYMENT); }),
    http.post('/api/v1/deployments/d1/start', () => { calls.push('start'); return HttpResponse.json({ ...DEPLOYMENT, status: 'active' }); }),
    http.delete('/api/v1/deployments/d1', () => { calls.push('delete'); return new HttpResponse(null, { status: 204 }); }),
  );
  return calls;
}

function renderDetail(role = 'data-scientist') {
  return renderRoutes(
    [
      { path: '/deployments/:deploymentId', element: <DeploymentDetailPage /> },
      { path: '/deployments', element: <div data-testid="list" /> },
    ],
    { path: '/deployments/d1', role },
  );
}

describe('DeploymentDetailPage', () => {
  it('shows informations générales, configuration, planification in its zone, executions and history', async () => {
    const calls = mockApi();
    renderDetail();
    expect(await screen.findByRole('heading', { name: 'score-nuit' }, SLOW[1])).toBeInTheDocument();
    const general = screen.getByTestId('deployment-general');
    expect(within(general).getByRole('link', { name: 'arbre-vins 1.0.0' })).toHaveAttribute('href', '/models/m1');
    expect(general).toHaveTextContent('Finance');
    expect(general).toHaveTextContent('datascientist');
    expect(screen.getByTestId('deployment-parameters')).toHaveTextContent('Format du fichier de résultats');
    expect(screen.getByTestId('deployment-input')).toHaveTextContent('lot.csv');
    const schedule = screen.getByTestId('deployment-schedule');
    expect(schedule).toHaveTextContent('Europe/Paris');
    expect(schedule).toHaveTextContent('Ignorer les exécutions manquées');
    expect(schedule).toHaveTextContent(/de lundi à vendredi/);
    // 01:30 UTC is 02:30 in Paris: next runs in the deployment's own zone
    expect(await screen.findByTestId('next-runs', ...SLOW)).toHaveTextContent('02/03/2026 02:30:00');
    expect(await within(screen.getByTestId('deployment-executions')).findByText('Planifié', ...SLOW)).toBeInTheDocument();
    expect(calls.some((search) => search.includes('deployment_id=d1'))).toBe(true);
    const history = screen.getByTestId('deployment-history');
    expect(history).toHaveTextContent('Planification');
    expect(history).toHaveTextContent('0 6 * * *');
  }, 120_000);

  it('gives a data scientist every action; delete asks first, naming it', async () => {
    const calls = mockApi();
    const { router } = renderDetail();
    await screen.findByRole('heading', { name: 'score-nuit' }, SLOW[1]);
    for (const name of [/Démarrer/, /Exécuter/, /Modifier/, /Supprimer/]) {
      expect(screen.getByRole('button', { name })).toBeInTheDocument();
    }
    await user.click(screen.getByRole('button', { name: /Démarrer/ }));
    await waitFor(() => expect(calls).toContain('start'), SLOW[1]);
    await user.click(screen.getByRole('button', { name: /Supprimer/ }));
    expect(
      await screen.findByText("Supprimer définitivement le déploiement « score-nuit » et son jeu de données d'entrée ?", {}, { timeout: 15_000 }),
    ).toBeInTheDocument();
    const dialog = screen.getByRole('dialog');
    await user.click(within(dialog).getByRole('button', { name: /Supprimer/ }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/deployments'), SLOW[1]);
    expect(calls).toContain('delete');
  }, 120_000);

  it('gives a business user Exécuter only, and a viewer nothing', async () => {
    mockApi();
    const { unmount } = renderDetail('business-user');
    await screen.findByRole('heading', { name: 'score-nuit' }, SLOW[1]);
    expect(screen.getByRole('button', { name: /Exécuter/ })).toBeInTheDocument();
    for (const name of [/Démarrer/, /Arrêter/, /Modifier/, /Supprimer/]) expect(screen.queryByRole('button', { name })).toBeNull();
    expect(screen.queryByTestId('input-dropzone')).toBeNull();
    unmount();
    renderDetail('viewer');
    await screen.findByRole('heading', { name: 'score-nuit' }, SLOW[1]);
    for (const name of [/Démarrer/, /Arrêter/, /Exécuter/, /Modifier/, /Supprimer/]) expect(screen.queryByRole('button', { name })).toBeNull();
  });
});

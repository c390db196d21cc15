import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import DeploymentsListPage from './DeploymentsListPage';
import { envelope, page, server } from '../../test/server';
import { renderPage } from '../../test/render';

const user = userEvent.setup({ delay: null });
/** A loaded machine renders Ant Design slowly: wait up to 15 s for what appears. */
const SLOW = [{}, { timeout: 15_000 }] as const;

export const DEPLOYMENTS = [
  {
    id: 'd1', name: 'score-nuit', model_id: 'm1', model: { name: 'arbre-vins', version: '1.0.0' }, status: 'active',
    department: 'Finance', region: 'Europe', schedule: '30 2 * * 1-5', timezone: 'Europe/Paris',
    next_run_at: '2026-03-02T01:30:00Z', created_at: '2026-01-01T10:00:00Z',
  },
  {
    id: 'd2', name: 'essai-rh', model_id: 'm2', model: { name: 'regression-rh', version: '2.0.0' }, status: 'inactive',
    department: 'RH', region: 'Asie', schedule: null, timezone: 'UTC', next_run_at: null, created_at: '2026-01-02T10:00:00Z',
  },
];
const FACETS = { department: ['Finance', 'RH'], region: ['Asie', 'Europe'], status: [], type: [], framework: [] };

function mockApi(seen: URLSearchParams[] = []) {
  server.use(
    http.get('/api/v1/models/facets', () => HttpResponse.json(FACETS)),
    http.get('/api/v1/models', () => HttpResponse.json(page([{ id: 'm1', name: 'arbre-vins', version: '1.0.0' }]))),
    http.get('/api/v1/models/:id', () => HttpResponse.json({ id: 'm1', name: 'arbre-vins', version: '1.0.0' })),
    http.get('/api/v1/deployments', ({ request }) => {
      const params = new URL(request.url).searchParams;
      seen.push(params);
      const items = DEPLOYMENTS.filter((d) => !params.get('q') || d.name.includes(params.get('q')!))
        .filter((d) => !params.get('status') || d.status === params.get('status'))
        .filter((d) => !params.get('model_id') || d.model_id === params.get('model_id'));
      return HttpResponse.json(page(items));
    }),
  );
}

describe('DeploymentsListPage', () => {
  it('lists deployments with status badges, the model, the schedule and a data scientist’s actions', async () => {
    mockApi();
    renderPage(<DeploymentsListPage />, { route: '/deployments' });
    expect(await screen.findByRole('link', { name: 'score-nuit' }, SLOW[1])).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Déploiements' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: /Nouveau déploiement/ })).toBeInTheDocument();
    const row = screen.getByRole('link', { name: 'score-nuit' }).closest('tr')!;
    expect(within(row).getByText('Actif')).toBeInTheDocument();
    expect(within(row).getByRole('link', { name: 'arbre-vins 1.0.0' })).toHaveAttribute('href', '/models/m1');
    expect(within(row).getByText('30 2 * * 1-5')).toBeInTheDocument();
    // next run in the deployment's own zone (01:30 UTC = 02:30 in Paris)
    expect(within(row).getByText('02/03/2026 02:30:00')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Arrêter score-nuit' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Démarrer essai-rh' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Voir essai-rh' })).toBeInTheDocument();
    expect(screen.getByText('Inactif')).toBeInTheDocument();
  }, 120_000);

  for (const role of ['business-user', 'viewer']) {
    it(`shows ${role} no new deployment and no start/stop`, async () => {
      mockApi();
      renderPage(<DeploymentsListPage />, { route: '/deployments', role });
      expect(await screen.findByRole('link', { name: 'score-nuit' }, SLOW[1])).toBeInTheDocument();
      expect(screen.queryByRole('button', { name: /Nouveau déploiement/ })).toBeNull();
      expect(screen.queryByRole('button', { name: /^(Démarrer|Arrêter)/ })).toBeNull();
      expect(screen.getByRole('button', { name: 'Voir score-nuit' })).toBeInTheDocument();
    });
  }

  it('sends search and filters to the server and keeps them in the URL (defaults left out)', async () => {
    const seen: URLSearchParams[] = [];
    mockApi(seen);
    const { router } = renderPage(<DeploymentsListPage />, { route: '/deployments' });
    await screen.findByRole('link', { name: 'score-nuit' }, SLOW[1]);
    await user.type(screen.getByRole('searchbox'), 'score');
    await waitFor(() => expect(router.state.location.search).toBe('?q=score'), SLOW[1]);
    await user.click(screen.getByRole('combobox', { name: 'Statut' }));
    await user.click(await screen.findByTitle('Actif', ...SLOW));
    await waitFor(() => expect(router.state.location.search).toBe('?q=score&status=active'), SLOW[1]);
    await waitFor(() => expect(seen.at(-1)!.get('status')).toBe('active'), SLOW[1]);
    expect(seen.at(-1)!.get('q')).toBe('score');
    expect(seen.at(-1)!.get('sort')).toBe('-created_at');
    expect(screen.queryByRole('link', { name: 'essai-rh' })).toBeNull();
  }, 120_000);

  it('reads département, région, modèle, sort and page from the URL (a link reproduces the view)', async () => {
    const seen: URLSearchParams[] = [];
    mockApi(seen);
    renderPage(<DeploymentsListPage />, {
      route: '/deployments',
      path: '/deployments?department=Finance&region=Europe&model_id=m1&sort=name&page=2',
    });
    await waitFor(() => expect(seen.length).toBeGreaterThan(0), SLOW[1]);
    expect(Object.fromEntries(seen[0])).toMatchObject({ department: 'Finance', region: 'Europe', model_id: 'm1', sort: 'name', page: '2' });
    expect(await screen.findByTitle('arbre-vins 1.0.0', ...SLOW)).toBeInTheDocument();
  }, 120_000);

  it('sorts on the server by a column', async () => {
    const seen: URLSearchParams[] = [];
    mockApi(seen);
    const { router } = renderPage(<DeploymentsListPage />, { route: '/deployments' });
    await screen.findByRole('link', { name: 'score-nuit' }, SLOW[1]);
    await user.click(screen.getByRole('button', { name: /^Nom —/ }));
    await waitFor(() => expect(router.state.location.search).toBe('?sort=name'), SLOW[1]);
    await waitFor(() => expect(seen.at(-1)!.get('sort')).toBe('name'), SLOW[1]);
  }, 120_000);

  it('starts a deployment from its row icon', async () => {
    let started = '';
    mockApi();
    server.use(
      http.post('/api/v1/deployments/:id/start', ({ params }) => {
        started = String(params.id);
        return HttpResponse.json({ ...DEPLOYMENTS[1], status: 'active' });
      }),
    );
    renderPage(<DeploymentsListPage />, { route: '/deployments' });
    await user.click(await screen.findByRole('button', { name: 'Démarrer essai-rh' }, SLOW[1]));
    await waitFor(() => expect(started).toBe('d2'), SLOW[1]);
    expect(await screen.findByText('Déploiement « essai-rh » démarré', {}, { timeout: 15_000 })).toBeInTheDocument();
  }, 120_000);

  it('says why a start was refused (409)', async () => {
    mockApi();
    server.use(
      http.post('/api/v1/deployments/:id/start', () =>
        HttpResponse.json(envelope('conflict', 'the deployment’s model was deleted'), { status: 409 }),
      ),
    );
    renderPage(<DeploymentsListPage />, { route: '/deployments' });
    await user.click(await screen.findByRole('button', { name: 'Démarrer essai-rh' }, SLOW[1]));
    expect(await screen.findByText(/Impossible de démarrer/, {}, { timeout: 15_000 })).toBeInTheDocument();
  }, 120_000);

  it('shows the empty state and a clear error state', async () => {
    server.use(
      http.get('/api/v1/models/facets', () => HttpResponse.json(FACETS)),
      http.get('/api/v1/models', () => HttpResponse.json(page([]))),
      http.get('/api/v1/deployments', () => HttpResponse.json(page([]))),
    );
    const { unmount } = renderPage(<DeploymentsListPage />, { route: '/deployments' });
    expect(await screen.findByText('Aucun déploiement ne correspond', ...SLOW)).toBeInTheDocument();
    unmount();
    server.use(http.get('/api/v1/deployments', () => HttpResponse.json(envelope('service_unavailable', 'down'), { status: 503 })));
    renderPage(<DeploymentsListPage />, { route: '/deployments' });
    expect(await screen.findByText('Le chargement a échoué', ...SLOW)).toBeInTheDocument();
  });
});

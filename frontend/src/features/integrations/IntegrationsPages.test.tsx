import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import IntegrationsListPage from './IntegrationsListPage';
import IntegrationDetailPage, { deliveryRows } from './IntegrationDetailPage';
import { page, server } from '../../test/server';
import { renderRoutes } from '../../test/render';

const user = userEvent.setup({ delay: null });

const HOOK = {
  id: 'i1',
  name: 'Alertes',
  url: 'https://hooks.example.com/ml',
  events: ['execution_failed', 'model_created'],
  department: null,
  active: true,
  created_by: 'admin',
  created_at: '2026-01-02T10:00:00Z',
};

function routes() {
  return [
    { path: '/integrations', element: <IntegrationsListPage /> },
    { path: '/integrations/:integrationId', element: <IntegrationDetailPage /> },
  ];
}

// Dialogs and typing are slow on a loaded CI machine: a generous bound, not 60 s.
describe('IntegrationsListPage', { timeout: 120_000 }, () => {
  it('lists the integrations with their events in French', async () => {
    server.use(http.get('/api/v1/integrations', () => HttpResponse.json(page([HOOK]))));
    renderRoutes(routes(), { path: '/integrations', role: 'admin' });
    const row = (await screen.findByRole('link', { name: 'Alertes' })).closest('tr')!;
    expect(within(row).getByText('Exécution échouée')).toBeInTheDocument();
    expect(within(row).getByText('Modèle créé')).toBeInTheDocument();
    expect(within(row).getByText('Tous les départements')).toBeInTheDocument();
    expect(within(row).getByText('Active')).toBeInTheDocument();
  });

  it('creates one, shows the secret once with a warning, then opens its page', async () => {
    let body: Record<string, unknown> | undefined;
    server.use(
      http.get('/api/v1/integrations', () => HttpResponse.json(page([]))),
      http.post('/api/v1/integrations', async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json({ ...HOOK, id: 'i2', name: 'Slack', secret: 'whsec_c2VjcmV0' }, { status: 201 });
      }),
      http.get('/api/v1/integrations/i2', () => HttpResponse.json({ ...HOOK, id: 'i2', name: 'Slack' })),
      http.get('/api/v1/integrations/i2/deliveries', () => HttpResponse.json(page([]))),
    );
    const { router } = renderRoutes(routes(), { path: '/integrations', role: 'admin' });
    await screen.findByText('Aucune intégration');
    await user.click(screen.getByRole('button', { name: /Ajouter une intégration/ }));
    const dialog = await screen.findByRole('dialog', { name: 'Nouvelle intégration' });
    await user.type(within(dialog).getByLabelText('Nom'), 'Slack');
    await user.type(within(dialog).getByLabelText('URL'), 'https://hooks.example.com/slack');
    await user.click(within(dialog).getByLabelText('Déploiement démarré'));
    await user.type(within(dialog).getByLabelText('Département'), 'Finance');
    await user.click(within(dialog).getByRole('button', { name: 'Créer' }));
    const secret = await screen.findByRole('dialog', { name: 'Secret de signature de « Slack »' });
    expect(within(secret).getByText('whsec_c2VjcmV0')).toBeInTheDocument();
    expect(within(secret).getByText(/il ne sera plus jamais affiché/)).toBeInTheDocument();
    expect(within(secret).getByRole('button', { name: /Copier le secret/ })).toBeInTheDocument();
    expect(body).toEqual({ name: 'Slack', url: 'https://hooks.example.com/slack', events: ['deployment_started'], department: 'Finance', active: true });
    await user.click(within(secret).getByRole('button', { name: "J'ai copié le secret" }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/integrations/i2'));
    expect(screen.queryByText('whsec_c2VjcmV0')).toBeNull();
  });

  it("shows the API's SSRF refusal next to the URL field, in French", async () => {
    server.use(
      http.get('/api/v1/integrations', () => HttpResponse.json(page([]))),
      http.post('/api/v1/integrations', () =>
        HttpResponse.json(
          { error: { code: 'validation_error', message: 'url refused', details: { url: ['169.254.169.254 is a metadata, multicast or unspecified address'] } } },
          { status: 400 },
        ),
      ),
    );
    renderRoutes(routes(), { path: '/integrations', role: 'admin' });
    await screen.findByText('Aucune intégration');
    await user.click(screen.getByRole('button', { name: /Ajouter une intégration/ }));
    const dialog = await screen.findByRole('dialog', { name: 'Nouvelle intégration' });
    await user.type(within(dialog).getByLabelText('Nom'), 'Metadata');
    await user.type(within(dialog).getByLabelText('URL'), 'http://169.254.169.254/');
    await user.click(within(dialog).getByLabelText('Exécution réussie'));
    await user.click(within(dialog).getByRole('button', { name: 'Créer' }));
    const reason = await within(dialog).findByText(/169\.254\.169\.254 est une adresse de métadonnées/);
    expect(reason.closest('.ant-form-item')).toHaveTextContent('URL');
    expect(screen.queryByRole('dialog', { name: /Secret/ })).toBeNull();
  });

  it('edits one in a dialog filled with its values and sends the changes', async () => {
    let body: Record<string, unknown> | undefined;
    server.use(
      http.get('/api/v1/integrations', () => HttpResponse.json(page([HOOK]))),
      http.patch('/api/v1/integrations/i1', async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json({ ...HOOK, ...body });
      }),
    );
    renderRoutes(routes(), { path: '/integrations', role: 'admin' });
    await screen.findByRole('link', { name: 'Alertes' });
    await user.click(screen.getByRole('button', { name: 'Modifier Alertes' }));
    const dialog = await screen.findByRole('dialog', { name: "Modification de l'intégration" });
    expect(within(dialog).getByLabelText('URL')).toHaveValue('https://hooks.example.com/ml');
    expect(within(dialog).getByLabelText('Exécution échouée')).toBeChecked();
    await user.click(within(dialog).getByLabelText('Exécution échouée'));
    await user.click(within(dialog).getByRole('button', { name: 'Enregistrer' }));
    await waitFor(() => expect(body).toBeDefined());
    expect(body).toEqual({ name: 'Alertes', url: 'https://hooks.example.com/ml', events: ['model_created'], department: null, active: true });
    await waitFor(() => expect(screen.queryByRole('dialog', { name: "Modification de l'intégration" })).toBeNull());
  });

  it('asks before deleting, naming the integration', async () => {
    let deleted = false;
    server.use(
      http.get('/api/v1/integrations', () => HttpResponse.json(page([HOOK]))),
      http.delete('/api/v1/integrations/i1', () => {
        deleted = true;
        return new HttpResponse(null, { status: 204 });
      }),
    );
    renderRoutes(routes(), { path: '/integrations', role: 'admin' });
    await screen.findByRole('link', { name: 'Alertes' });
    await user.click(screen.getByRole('button', { name: 'Supprimer Alertes' }));
    const confirm = await screen.findByRole('dialog');
    expect(within(confirm).getByText(/Supprimer « Alertes » \?/)).toBeInTheDocument();
    expect(deleted).toBe(false);
    await user.click(within(confirm).getByRole('button', { name: 'Supprimer' }));
    await waitFor(() => expect(deleted).toBe(true));
  });

  it('asks before deactivating, then sends active=false', async () => {
    let patched: unknown;
    server.use(
      http.get('/api/v1/integrations', () => HttpResponse.json(page([HOOK]))),
      http.patch('/api/v1/integrations/i1', async ({ request }) => {
        patched = await request.json();
        return HttpResponse.json({ ...HOOK, active: false });
      }),
    );
    renderRoutes(routes(), { path: '/integrations', role: 'admin' });
    await screen.findByRole('link', { name: 'Alertes' });
    await user.click(screen.getByRole('button', { name: 'Désactiver Alertes' }));
    const confirm = await screen.findByRole('dialog');
    expect(within(confirm).getByText(/Désactiver « Alertes » \?/)).toBeInTheDocument();
    expect(patched).toBeUndefined();
    await user.click(within(confirm).getByRole('button', { name: 'Désactiver' }));
    await waitFor(() => expect(patched).toEqual({ active: false }));
  });
});

// Dialogs and typing are slow on a loaded CI machine: a generous bound, not 60 s.
describe('IntegrationDetailPage', { timeout: 120_000 }, () => {
  const DELIVERY = {
    id: 'd1',
    event_type: 'integration_test',
    status: 'delivered',
    attempt_count: 2,
    attempts: [
      { attempt: 1, at: '2026-01-02T10:00:00Z', status_code: 503, duration_ms: 12.4, error: 'HTTP 503' },
      { attempt: 2, at: '2026-01-02T10:00:02Z', status_code: 200, duration_ms: 8.6, error: null },
    ],
    created_at: '2026-01-02T10:00:00Z',
  };

  it('sends a test event and shows each attempt of the delivery log', async () => {
    let tested = 0;
    let deliveries: unknown[] = [];
    server.use(
      http.get('/api/v1/integrations/i1', () => HttpResponse.json(HOOK)),
      http.get('/api/v1/integrations/i1/deliveries', () => HttpResponse.json(page(deliveries))),
      http.post('/api/v1/integrations/i1/test', () => {
        tested += 1;
        deliveries = [DELIVERY];
        return HttpResponse.json({ id: 'd1', status: 'pending', event_type: 'integration_test', attempts: [] }, { status: 202 });
      }),
    );
    renderRoutes(routes(), { path: '/integrations/i1', role: 'admin' });
    expect(await screen.findByRole('heading', { name: 'Alertes' })).toBeInTheDocument();
    expect(await screen.findByText('Aucune livraison pour le moment')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: /Tester/ }));
    await waitFor(() => expect(tested).toBe(1));
    const table = screen.getByTestId('deliveries-table');
    expect(await within(table).findByText('503')).toBeInTheDocument();
    expect(within(table).getByText('200')).toBeInTheDocument();
    expect(within(table).getByText('HTTP 503')).toBeInTheDocument();
    expect(within(table).getByText('12 ms')).toBeInTheDocument();
    expect(within(table).getAllByText('Événement de test')).toHaveLength(2);
    expect(within(table).getAllByText('Livrée')).toHaveLength(2);
  });

  it('puts the latest attempt first and keeps a delivery not tried yet', () => {
    const rows = deliveryRows([DELIVERY, { id: 'd2', status: 'pending', attempts: [] }] as never);
    expect(rows.map((row) => row.key)).toEqual(['d1:2', 'd1:1', 'd2']);
  });
});

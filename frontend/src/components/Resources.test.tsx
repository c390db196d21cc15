import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import i18n from '../i18n';
import DeploymentFormPage from '../features/deployments/DeploymentFormPage';
import ExecutionDetailPage from '../features/executions/ExecutionDetailPage';
import { RunDialog } from './RunDialog';
import { resourceError } from './Resources';
import { envelope, page, RESOURCE_LIMITS, server } from '../test/server';
import { renderPage, renderRoutes } from '../test/render';

const user = userEvent.setup({ delay: null });
const SLOW = [{}, { timeout: 15_000 }] as const;
const MODEL = { id: 'm1', name: 'arbre-vins', version: '1.0.0', status: 'ready' };
const t = i18n.getFixedT('fr');

function renderForm() {
  server.use(
    http.get('/api/v1/models', () => HttpResponse.json(page([MODEL]))),
    http.get('/api/v1/models/:id', () => HttpResponse.json(MODEL)),
  );
  return renderRoutes(
    [
      { path: '/deployments/new', element: <DeploymentFormPage /> },
      { path: '/deployments/:deploymentId', element: <div data-testid="detail" /> },
    ],
    { path: '/deployments/new?model_id=m1' },
  );
}

describe('resource rules', () => {
  it('accepts empty (the default) and whole numbers within the ceilings, says why otherwise', () => {
    expect(resourceError('memory_mb', null, t, RESOURCE_LIMITS)).toBeNull();
    expect(resourceError('memory_mb', 512, t, RESOURCE_LIMITS)).toBeNull();
    expect(resourceError('memory_mb', 4096, t, RESOURCE_LIMITS)).toBe(
      'La mémoire doit être comprise entre 64 et 2048 Mo (plafond des paramètres globaux)',
    );
    expect(resourceError('memory_mb', 10, t, RESOURCE_LIMITS)).toMatch(/entre 64 et 2048 Mo/);
    expect(resourceError('timeout_s', 3601, t, RESOURCE_LIMITS)).toBe(
      'Le délai maximal doit être compris entre 1 et 3600 s (plafond des paramètres globaux)',
    );
    expect(resourceError('timeout_s', 1.5, t, RESOURCE_LIMITS)).toBe('Saisissez un nombre entier');
    // limits not loaded yet: the floor only (the API checks the ceiling)
    expect(resourceError('timeout_s', 0, t)).toBe("Le délai maximal doit être d'au moins 1 s");
  });
});

describe('the "Ressources" group of the deployment form', () => {
  it('shows the ceilings as help, refuses a value above them next to the field, sends the values', async () => {
    let created: Record<string, unknown> | null = null;
    server.use(
      http.post('/api/v1/deployments', async ({ request }) => {
        created = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json({ id: 'd9', name: 'nuit', model_id: 'm1' }, { status: 201 });
      }),
    );
    const { router } = renderForm();
    await screen.findByTitle('arbre-vins 1.0.0', ...SLOW);
    expect(screen.getByText('Ressources')).toHaveClass('ant-divider-inner-text');
    const memory = screen.getByLabelText('Mémoire (Mo)');
    const timeout = screen.getByLabelText('Délai maximal (s)');
    expect(await screen.findByText(/Entre 64 et 2048 Mo \(plafond des paramètres globaux\)\. Vide : 2048 Mo\./, ...SLOW)).toBeInTheDocument();
    expect(screen.getByText(/Entre 1 et 3600 s/)).toBeInTheDocument();
    await user.type(screen.getByLabelText('Nom'), 'nuit');
    await user.type(memory, '4096');
    await user.type(timeout, '120');
    await user.click(screen.getByRole('button', { name: 'Créer le déploiement' }));
    expect(await screen.findByText('La mémoire doit être comprise entre 64 et 2048 Mo (plafond des paramètres globaux)', ...SLOW)).toBeInTheDocument();
    expect(created).toBeNull();
    await user.clear(memory);
    await user.type(memory, '512');
    await user.click(screen.getByRole('button', { name: 'Créer le déploiement' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/deployments/d9'), SLOW[1]);
    expect(created).toMatchObject({ name: 'nuit', memory_mb: 512, timeout_s: 120 });
  }, 120_000);

  it("a ceiling lowered meanwhile: the API's 400 is said in French with today's ceiling", async () => {
    let limitsAsked = 0;
    server.use(
      http.get('/api/v1/resource-limits', () => {
        limitsAsked += 1;
        return HttpResponse.json(limitsAsked === 1 ? RESOURCE_LIMITS : { ...RESOURCE_LIMITS, max_memory_mb: 256 });
      }),
      http.post('/api/v1/deployments', () =>
        HttpResponse.json(
          envelope('validation_error', 'memory_mb: must be at most 256 MB', { memory_mb: ['must be at most 256 MB (the ceiling max_memory_mb of the global settings)'] }),
          { status: 400 },
        ),
      ),
    );
    renderForm();
    await screen.findByTitle('arbre-vins 1.0.0', ...SLOW);
    await user.type(screen.getByLabelText('Nom'), 'nuit');
    await user.type(screen.getByLabelText('Mémoire (Mo)'), '512');
    await user.click(screen.getByRole('button', { name: 'Créer le déploiement' }));
    expect(await screen.findByText('La mémoire doit être comprise entre 64 et 256 Mo (plafond des paramètres globaux)', ...SLOW)).toBeInTheDocument();
  }, 120_000);
});

describe('the run dialog', () => {
  it('lets a run override the resources (collapsed, optional) and sends only the given ones', async () => {
    let body: Record<string, unknown> | null = null;
    server.use(
      http.post('/api/v1/deployments/d1/executions', async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json({ id: 'e5', status: 'queued' }, { status: 201 });
      }),
    );
    let started: string | null = null;
    renderPage(
      <RunDialog
        open
        target={{ kind: 'deployment', id: 'd1', name: 'nuit' }}
        inputOptional
        onClose={() => {}}
        onStarted={(execution) => {
          started = execution.id;
        }}
      />,
    );
    const toggle = await screen.findByRole('button', { name: /Ressources/ }, SLOW[1]);
    expect(toggle).toHaveAttribute('aria-expanded', 'false');
    await user.click(toggle);
    const memory = await screen.findByLabelText('Mémoire (Mo)', ...SLOW);
    await user.type(memory, '9999');
    expect(await screen.findByText(/entre 64 et 2048 Mo/, ...SLOW)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Exécuter' })).toBeDisabled();
    await user.clear(memory);
    await user.type(memory, '300');
    await user.click(screen.getByRole('button', { name: 'Exécuter' }));
    await waitFor(() => expect(started).toBe('e5'), SLOW[1]);
    expect(body).toEqual({ parameters: {}, memory_mb: 300 });
  }, 120_000);
});

describe('the execution detail', () => {
  it('shows the allocated resources and what the run used', async () => {
    const execution = {
      id: 'e1',
      status: 'succeeded',
      trigger: 'manual',
      model_id: 'm1',
      parameters: {},
      input: { rows: 1500 },
      duration_s: 2.5,
      result: { rows: 1500, size: 100 },
      resources: { memory_mb: 512, timeout_s: 120 },
      usage: { peak_memory_mb: 141.3, rows: 1500, rows_per_second: 12345.6, duration_s: 2.5 },
    };
    server.use(
      http.get('/api/v1/executions/e1', () => HttpResponse.json(execution)),
      http.get('/api/v1/executions', () => HttpResponse.json(page([]))),
      http.get('/api/v1/executions/e1/logs', () => HttpResponse.json({ lines: [], next: 0 })),
      http.get('/api/v1/executions/e1/results/preview', () => HttpResponse.json({ columns: ['a'], rows: [[1]], total: 1, format: 'csv' })),
    );
    renderPage(<ExecutionDetailPage />, { route: '/executions/:executionId', path: '/executions/e1' });
    const allocated = await screen.findByTestId('execution-resources', ...SLOW);
    expect(within(allocated).getByText('Ressources allouées')).toBeInTheDocument();
    expect(within(allocated).getByText('Mémoire (Mo)').closest('tr')).toHaveTextContent('512');
    expect(within(allocated).getByText('Délai maximal (s)').closest('tr')).toHaveTextContent('120');
    const used = screen.getByTestId('execution-usage');
    expect(within(used).getByText('Mémoire maximale').closest('tr')).toHaveTextContent('141,3 Mo');
    expect(within(used).getByText('Lignes').closest('tr')).toHaveTextContent(/1\s500/);
    expect(within(used).getByText('Lignes par seconde').closest('tr')).toHaveTextContent(/12\s345,6/);
    expect(within(used).getByText('Durée').closest('tr')).toHaveTextContent('2.50 s');
  }, 60_000);
});

describe('the deployment detail', () => {
  it('shows its resources in the user’s number format, the default when it has none', async () => {
    const { ResourceSummary } = await import('./Resources');
    renderPage(<ResourceSummary value={{ memory_mb: 1024, timeout_s: null }} testId="summary" />);
    const summary = await screen.findByTestId('summary', ...SLOW);
    expect(within(summary).getByText('Mémoire (Mo)').closest('tr')).toHaveTextContent(/1\s024/);
    await waitFor(() => expect(within(summary).getByText('Délai maximal (s)').closest('tr')).toHaveTextContent('Par défaut (600)'), SLOW[1]);
  }, 60_000);
});

import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import DeploymentFormPage from './DeploymentFormPage';
import { checkRunnerParameters } from './constants';
import { cronProblem } from './ScheduleFields';
import { envelope, page, server } from '../../test/server';
import { renderRoutes } from '../../test/render';

const user = userEvent.setup({ delay: null });
/** A loaded machine renders Ant Design slowly: wait up to 15 s for what appears. */
const SLOW = [{}, { timeout: 15_000 }] as const;
const MODEL = { id: 'm1', name: 'arbre-vins', version: '1.0.0', status: 'ready' };

function mockModels(previews: URLSearchParams[] = []) {
  server.use(
    http.get('/api/v1/models', () => HttpResponse.json(page([MODEL]))),
    http.get('/api/v1/models/:id', () => HttpResponse.json(MODEL)),
    http.get('/api/v1/deployments/schedule/preview', ({ request }) => {
      const params = new URL(request.url).searchParams;
      previews.push(params);
      if (params.get('schedule') === '0 0 30 2 *') {
        return HttpResponse.json(envelope('validation_error', 'bad', { schedule: ['invalid cron expression: day 30 of February'] }), { status: 400 });
      }
      const zone = params.get('timezone');
      return HttpResponse.json({
        timezone: zone,
        schedule: params.get('schedule'),
        next_runs: [
          { utc: '2026-03-02T01:30:00Z', local: '2026-03-02T02:30:00+01:00' },
          { utc: '2026-03-03T01:30:00Z', local: '2026-03-03T02:30:00+01:00' },
        ],
      });
    }),
  );
}

function renderForm(path = '/deployments/new?model_id=m1') {
  return renderRoutes(
    [
      { path: '/deployments/new', element: <DeploymentFormPage /> },
      { path: '/deployments/:deploymentId/edit', element: <DeploymentFormPage /> },
      { path: '/deployments/:deploymentId', element: <div data-testid="detail" /> },
    ],
    { path },
  );
}

describe('cron and parameter checks', () => {
  it('wants 5 fields and a readable expression', () => {
    expect(cronProblem('30 2 * * 1-5', 'fr')).toBeNull();
    expect(cronProblem('', 'fr')).toBeNull();
    expect(cronProblem('0 0 * * * *', 'fr')).toEqual({ key: 'deployments.schedule.five_fields', count: 6 });
    expect(cronProblem('0 25 * * *', 'fr')?.key).toBe('deployments.schedule.invalid');
  });
  it("checks the runner's own parameters only", () => {
    expect(checkRunnerParameters({ output_format: 'JSON', predict_proba: 'true', batch_size: 10, C: 'x' })).toEqual({});
    expect(checkRunnerParameters({ output_format: 'xml', predict_proba: 'maybe', batch_size: 1.5, timeout_s: 0 })).toEqual({
      output_format: 'one_of',
      predict_proba: 'boolean',
      batch_size: 'integer',
      timeout_s: 'range',
    });
  });
});

describe('DeploymentFormPage', () => {
  it('from a model: prefilled and fixed; the cron in French words and the next runs in the chosen zone; creates, uploads the dataset, opens the page', async () => {
    const previews: URLSearchParams[] = [];
    let created: Record<string, unknown> | null = null;
    let uploaded: string | null = null;
    mockModels(previews);
    server.use(
      http.post('/api/v1/deployments', async ({ request }) => {
        created = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json({ id: 'd9', name: 'nuit', model_id: 'm1' }, { status: 201 });
      }),
      http.put('/api/v1/deployments/d9/input', async ({ request }) => {
        uploaded = await ((await request.formData()).get('file') as Blob).text();
        return HttpResponse.json({ id: 'd9', name: 'nuit', input: { filename: 'lot.csv', rows: 1, columns: ['a'] } });
      }),
    );
    const { router, container } = renderForm();
    expect(await screen.findByTitle('arbre-vins 1.0.0', ...SLOW)).toBeInTheDocument();
    expect(screen.getByLabelText('Modèle')).toBeDisabled();
    await user.type(screen.getByLabelText('Nom'), 'nuit');
    await user.type(screen.getByLabelText('Planification'), '30 2 * * 1-5');
    expect(await screen.findByText(/de lundi à vendredi/, ...SLOW)).toBeInTheDocument();
    const runs = await screen.findByTestId('next-runs', ...SLOW);
    expect(runs).toHaveTextContent('Prochaines exécutions (heure de UTC)');
    expect(runs).toHaveTextContent('02/03/2026 01:30:00');
    expect(previews.at(-1)!.get('schedule')).toBe('30 2 * * 1-5');
    expect(previews.at(-1)!.get('count')).toBe('5');

    // the runner's parameters are offered with their meaning
    await user.click(screen.getByRole('button', { name: /Paramètres reconnus par le moteur/ }));
    expect(await screen.findByText('Format du fichier de résultats', ...SLOW)).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Ajouter le paramètre output_format' }));
    expect(screen.getByLabelText('Nom du paramètre 1')).toHaveValue('output_format');
    await user.clear(screen.getByLabelText('Valeur du paramètre 1'));
    await user.type(screen.getByLabelText('Valeur du paramètre 1'), 'xml');
    expect(await screen.findByText(/Paramètre output_format : valeur non autorisée/, ...SLOW)).toBeInTheDocument();
    await user.clear(screen.getByLabelText('Valeur du paramètre 1'));
    await user.type(screen.getByLabelText('Valeur du paramètre 1'), 'json');

    await user.upload(container.querySelector('input[type=file]') as HTMLInputElement, new File(['a\n1\n'], 'lot.csv'));
    await user.click(screen.getByRole('button', { name: 'Créer le déploiement' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/deployments/d9'), SLOW[1]);
    expect(created).toMatchObject({
      name: 'nuit',
      model_id: 'm1',
      schedule: '30 2 * * 1-5',
      timezone: 'UTC',
      parameters: { output_format: 'json' },
      misfire_policy: 'run_once',
      max_concurrent: 1,
    });
    expect(uploaded).toBe('a\n1\n');
  }, 120_000);

  it("puts the API's verdict on an expression next to the field, and a 400's details next to theirs", async () => {
    mockModels();
    server.use(
      http.post('/api/v1/deployments', () =>
        HttpResponse.json(envelope('validation_error', 'bad', { name: ['Longer than maximum length 200.'] }), { status: 400 }),
      ),
    );
    renderForm();
    await screen.findByTitle('arbre-vins 1.0.0', ...SLOW);
    await user.type(screen.getByLabelText('Planification'), '0 0 30 2 *');
    expect(await screen.findByText(/Expression cron refusée : invalid cron expression: day 30 of February/, ...SLOW)).toBeInTheDocument();
    await user.clear(screen.getByLabelText('Planification'));
    await user.type(screen.getByLabelText('Planification'), '0 0 * * * *');
    expect(await screen.findByText(/exactement 5 champs/, ...SLOW)).toBeInTheDocument();
    await user.clear(screen.getByLabelText('Planification'));
    await user.type(screen.getByLabelText('Nom'), 'x');
    await user.click(screen.getByRole('button', { name: 'Créer le déploiement' }));
    expect(await screen.findByText('Longer than maximum length 200.', ...SLOW)).toBeInTheDocument();
  }, 120_000);

  it('a refused dataset at creation opens the new deployment for editing, with the reason', async () => {
    mockModels();
    server.use(
      http.post('/api/v1/deployments', () => HttpResponse.json({ id: 'd7', name: 'lot', model_id: 'm1' }, { status: 201 })),
      http.put('/api/v1/deployments/d7/input', () =>
        HttpResponse.json(
          envelope('invalid_input_data', 'missing columns required by the model: b', { missing_columns: ['b'], expected: ['a', 'b'] }),
          { status: 422 },
        ),
      ),
      http.get('/api/v1/deployments/d7', () =>
        HttpResponse.json({ id: 'd7', name: 'lot', model_id: 'm1', timezone: 'UTC', parameters: {}, schedule: null, input: null }),
      ),
    );
    const { router, container } = renderForm();
    await screen.findByTitle('arbre-vins 1.0.0', ...SLOW);
    await user.type(screen.getByLabelText('Nom'), 'lot');
    await user.upload(container.querySelector('input[type=file]') as HTMLInputElement, new File(['a\n1\n'], 'lot.csv'));
    await user.click(screen.getByRole('button', { name: 'Créer le déploiement' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/deployments/d7/edit'), SLOW[1]);
    expect(await screen.findByText('Jeu de données refusé', {}, { timeout: 15_000 })).toBeInTheDocument();
    expect(screen.getByText('Colonnes manquantes, attendues par le modèle : b')).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Modifier lot' })).toBeInTheDocument();
  });
});

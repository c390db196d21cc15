import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Navigate } from 'react-router-dom';
import ReportsPage from './ReportsPage';
import { envelope, server } from '../../test/server';
import { renderRoutes } from '../../test/render';

const user = userEvent.setup({ delay: null });
const SLOW = { timeout: 15_000 };
const FACETS = { department: ['Finance', 'RH'], region: ['Europe'], status: [], type: [], framework: [] };
const ZERO = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, timed_out: 0 };

const PERFORMANCE = {
  from: null, to: null, department: null, region: null, metric_names: ['accuracy'],
  items: [
    { model_id: 'm1', name: 'arbre', version: '1.0.0', type: 'classification', department: 'Finance', region: 'Europe',
      metrics: { accuracy: 0.91 }, executions: 4, succeeded: 3, failed: 1, success_rate: 0.75, rows_scored: 120,
      compute_s: 2.5, mean_duration_s: 0.62 },
    { model_id: 'm2', name: 'arbre', version: '2.0.0', type: 'classification', department: 'Finance', region: 'Europe',
      metrics: { accuracy: 0.95 }, executions: 0, succeeded: 0, failed: 0, success_rate: null, rows_scored: 0,
      compute_s: 0, mean_duration_s: null },
  ],
  total: 2, page: 1, per_page: 20,
};
const TRENDS = {
  from: '2026-03-01T00:00:00Z', to: '2026-03-03T00:00:00Z', interval: 'day', department: 'Finance', region: null,
  totals: { total: 5, by_status: { ...ZERO, succeeded: 4, failed: 1 }, success_rate: 0.8, duration_p50_s: 1.2,
    duration_p90_s: 2, duration_p95_s: 2.5, duration_p99_s: 3, rows: 150, compute_s: 7 },
  points: [
    { start: '2026-03-01T00:00:00Z', end: '2026-03-02T00:00:00Z', total: 0, by_status: ZERO, success_rate: null,
      duration_p50_s: null, duration_p90_s: null, duration_p95_s: null, duration_p99_s: null, rows: 0, compute_s: 0 },
    { start: '2026-03-02T00:00:00Z', end: '2026-03-03T00:00:00Z', total: 5, by_status: { ...ZERO, succeeded: 4, failed: 1 },
      success_rate: 0.8, duration_p50_s: 1.2, duration_p90_s: 2, duration_p95_s: 2.5, duration_p99_s: 3, rows: 150, compute_s: 7 },
  ],
};
const USAGE = {
  from: '2026-02-01T00:00:00Z', to: '2026-03-03T00:00:00Z', department: null, region: null,
  items: [{ department: 'Finance', models: 2, deployments: 1, active_deployments: 1, executions: 5, succeeded: 4, failed: 1,
    success_rate: 0.8, rows_scored: 150, compute_s: 7 }],
};
const STATUS = {
  from: null, to: null, department: null, region: null, summary: { active: 1, inactive: 0 },
  items: [{ id: 'd1', name: 'nuit', model_id: 'm1', model_name: 'arbre', model_version: '1.0.0', department: 'Finance',
    region: 'Europe', status: 'active', schedule: '0 2 * * *', timezone: 'UTC', next_run_at: '2026-03-04T02:00:00Z',
    last_run: { id: 'e9', status: 'succeeded', created_at: '2026-03-03T02:00:00Z', at: '2026-03-03T02:00:05Z' } }],
  total: 1, page: 1, per_page: 20,
};

function mockApi(seen: Record<string, URLSearchParams[]> = {}) {
  const answer = (name: string, body: unknown) =>
    http.get(`/api/v1/reports/${name}`, ({ request }) => {
      const params = new URL(request.url).searchParams;
      (seen[name] ??= []).push(params);
      // like the API: the report says the scope it was computed for
      return HttpResponse.json({
        ...(body as object),
        department: params.get('department') ?? (body as { department?: string }).department ?? null,
        region: params.get('region') ?? (body as { region?: string }).region ?? null,
      });
    });
  server.use(
    http.get('/api/v1/models/facets', () => HttpResponse.json(FACETS)),
    answer('model-performance', PERFORMANCE),
    answer('execution-trends', TRENDS),
    answer('department-usage', USAGE),
    answer('deployment-status', STATUS),
  );
}

function open(path: string, role = 'viewer') {
  return renderRoutes(
    [
      { path: '/reports', element: <Navigate to="model-performance" replace /> },
      { path: '/reports/:report', element: <ReportsPage /> },
      { path: '*', element: <div data-testid="elsewhere" /> },
    ],
    { path, role },
  );
}

afterEach(() => vi.restoreAllMocks());

describe('ReportsPage', () => {
  it('shows the four reports as tabs, each at its own URL, keeping the period and the filters', async () => {
    mockApi();
    const { router } = open('/reports/model-performance?department=Finance&from=2026-03-01T00:00:00Z&to=2026-03-03T00:00:00Z&name=arbre');
    expect(await screen.findByRole('heading', { name: 'Rapports' }, SLOW)).toBeInTheDocument();
    for (const label of ['Performances des modèles', "Tendances d'exécution", 'Utilisation par département', 'Statut des déploiements']) {
      expect(screen.getByRole('tab', { name: label })).toBeInTheDocument();
    }
    await user.click(screen.getByRole('tab', { name: "Tendances d'exécution" }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/reports/execution-trends'));
    // the model name belongs to one report: it does not follow
    expect(router.state.location.search).toBe('?department=Finance&from=2026-03-01T00%3A00%3A00Z&to=2026-03-03T00%3A00%3A00Z');
  }, 120_000);

  it('Performances des modèles: metrics of each version side by side, counts linking to the Exécutions list', async () => {
    const seen: Record<string, URLSearchParams[]> = {};
    mockApi(seen);
    const { router } = open('/reports/model-performance');
    const table = await screen.findByTestId('report-table', {}, SLOW);
    expect(await within(table).findByText('0,91', {}, SLOW)).toBeInTheDocument();
    expect(within(table).getByText('0,95')).toBeInTheDocument();
    expect(within(table).getByRole('columnheader', { name: 'accuracy' })).toBeInTheDocument();
    const row = within(table).getByText('1.0.0').closest('tr')!;
    expect(within(row).getByRole('link', { name: '4' })).toHaveAttribute('href', '/executions?model_id=m1');
    expect(within(row).getByRole('link', { name: '3' })).toHaveAttribute('href', '/executions?model_id=m1&status=succeeded');
    expect(within(row).getByText('75 %')).toBeInTheDocument();
    expect(within(row).getByRole('link', { name: 'arbre' })).toHaveAttribute('href', '/models/m1');
    await user.click(within(row).getByRole('button', { name: 'Comparer les versions arbre' }));
    await waitFor(() => expect(router.state.location.search).toBe('?name=arbre'));
    await waitFor(() => expect(seen['model-performance'].at(-1)!.get('name')).toBe('arbre'));
    expect(await screen.findByText('Versions de arbre')).toBeInTheDocument();
  }, 120_000);

  it("Tendances d'exécution: totals and per-interval counts link to the list of the same period, scope and status", async () => {
    const seen: Record<string, URLSearchParams[]> = {};
    mockApi(seen);
    const { router } = open('/reports/execution-trends?department=Finance');
    expect(await screen.findByTestId('trends-total', {}, SLOW)).toHaveAttribute(
      'href', '/executions?from=2026-03-01T00%3A00%3A00Z&to=2026-03-03T00%3A00%3A00Z&department=Finance');
    expect(screen.getByTestId('trends-failed')).toHaveAttribute(
      'href', '/executions?from=2026-03-01T00%3A00%3A00Z&to=2026-03-03T00%3A00%3A00Z&department=Finance&status=failed');
    expect(screen.getByTestId('trends-rate')).toHaveTextContent('80 %');
    expect(screen.getByRole('img', { name: /5 exécutions sur 2 intervalles/ })).toBeInTheDocument();
    const table = screen.getByTestId('report-table');
    expect(within(table).getByRole('link', { name: '5' })).toHaveAttribute(
      'href', '/executions?from=2026-03-02T00%3A00%3A00Z&to=2026-03-03T00%3A00%3A00Z&department=Finance');
    expect(seen['execution-trends'][0].get('interval')).toBe('day');
    await user.click(screen.getByRole('combobox', { name: 'Intervalle' }));
    await user.click(await screen.findByTitle('Heure', {}, SLOW));
    await waitFor(() => expect(router.state.location.search).toBe('?department=Finance&interval=hour'));
    await waitFor(() => expect(seen['execution-trends'].at(-1)!.get('interval')).toBe('hour'));
  }, 120_000);

  it('Utilisation par département and Statut des déploiements: every figure links to its list', async () => {
    mockApi();
    open('/reports/department-usage?region=Europe');
    const table = await screen.findByTestId('report-table', {}, SLOW);
    const row = within(table).getAllByRole('row')[1];
    expect(within(row).getByTestId('executions-count')).toHaveAttribute(
      'href', '/executions?department=Finance&region=Europe&from=2026-02-01T00%3A00%3A00Z&to=2026-03-03T00%3A00%3A00Z');
    expect(within(row).getByRole('link', { name: '2' })).toHaveAttribute('href', '/models?department=Finance&region=Europe');
    expect(within(row).getByText('150')).toBeInTheDocument();
    await user.click(screen.getByRole('tab', { name: 'Statut des déploiements' }));
    const deployments = await screen.findByRole('link', { name: 'nuit' }, SLOW);
    expect(deployments).toHaveAttribute('href', '/deployments/d1');
    expect(screen.getByRole('link', { name: 'Réussie (exécution e9)' })).toHaveAttribute('href', '/executions/e9');
    expect(within(screen.getByTestId('summary-active')).getByRole('link', { name: '1' })).toHaveAttribute(
      'href', '/deployments?region=Europe&status=active');
  }, 120_000);

  it('exports the report shown as the API’s CSV with the same filters', async () => {
    mockApi();
    const csvQueries: URLSearchParams[] = [];
    server.use(
      http.get('/api/v1/reports/department-usage', ({ request }) => {
        const params = new URL(request.url).searchParams;
        if (params.get('format') === 'csv') {
          csvQueries.push(params);
          expect(request.headers.get('Authorization')).toBe('Bearer test-token');
          return new HttpResponse('department,models\nFinance,2\n', {
            headers: { 'Content-Type': 'text/csv', 'Content-Disposition': 'attachment; filename="report-department-usage.csv"' },
          });
        }
        return HttpResponse.json(USAGE);
      }),
    );
    const names: string[] = [];
    const blobs: Blob[] = [];
    Object.assign(URL, { createObjectURL: (blob: Blob) => (blobs.push(blob), 'blob:report'), revokeObjectURL: () => {} });
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      names.push(this.download);
    });
    open('/reports/department-usage?department=Finance');
    await screen.findByTestId('report-table', {}, SLOW);
    await user.click(screen.getByRole('button', { name: /Exporter en CSV/ }));
    await waitFor(() => expect(csvQueries).toHaveLength(1));
    expect(csvQueries[0].get('department')).toBe('Finance');
    await waitFor(() => expect(names).toEqual(['report-department-usage.csv']));
    expect(await blobs[0].text()).toBe('department,models\nFinance,2\n');
  }, 120_000);

  it('says which filter the API refused, next to the filters', async () => {
    mockApi();
    server.use(
      http.get('/api/v1/reports/execution-trends', () =>
        HttpResponse.json(envelope('validation_error', 'bad', { from: ['the period holds 2000 hours'] }), { status: 400 }),
      ),
    );
    open('/reports/execution-trends?interval=hour&from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z');
    const alert = await screen.findByTestId('report-invalid', {}, SLOW);
    expect(alert).toHaveTextContent('Période : la période est invalide ou trop longue');
  }, 120_000);

  it('answers an unknown report with the not-found message', async () => {
    mockApi();
    open('/reports/nope');
    expect(await screen.findByRole('alert', {}, SLOW)).toBeInTheDocument();
  }, 120_000);
});

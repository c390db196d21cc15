import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import ExecutionDetailPage from './ExecutionDetailPage';
import { page, server } from '../../test/server';
import { renderPage } from '../../test/render';

const user = userEvent.setup({ delay: null });

const BASE = {
  id: 'e1',
  trigger: 'manual',
  model_id: 'm1',
  model_name: 'arbre-vins',
  model_version: '1.0.0',
  deployment_id: null,
  parameters: { predict_proba: true },
  input: { rows: 3, filename: 'vins.csv' },
  created_at: '2026-01-02T10:00:00Z',
  started_at: '2026-01-02T10:00:01Z',
  created_by: 'datascientist',
  rerun_of: null,
};

function mockExecution(execution: Record<string, unknown>, logs: { n: number; message: string }[][]) {
  let call = 0;
  server.use(
    http.get('/api/v1/executions/e1', () => HttpResponse.json(execution)),
    http.get('/api/v1/executions', () => HttpResponse.json(page([]))),
    http.get('/api/v1/executions/e1/logs', ({ request }) => {
      const after = Number(new URL(request.url).searchParams.get('after'));
      const chunk = logs[Math.min(call, logs.length - 1)].filter((line) => line.n > after);
      call += 1;
      const lines = chunk.map((line) => ({ ...line, ts: '2026-01-02T10:00:02Z', level: 'INFO' }));
      return HttpResponse.json({ lines, next: lines.length ? lines[lines.length - 1].n : after });
    }),
    http.get('/api/v1/executions/e1/results/preview', () =>
      HttpResponse.json({ columns: ['alcohol', 'prediction'], rows: [[13.2, 1], [12.1, 0]], total: 3, format: 'csv' }),
    ),
  );
}

describe('ExecutionDetailPage', () => {
  it('shows the general information, parameters, logs and a results preview', async () => {
    mockExecution(
      { ...BASE, status: 'succeeded', finished_at: '2026-01-02T10:00:03Z', duration_s: 2.5, result: { rows: 3, size: 120 } },
      [[{ n: 1, message: 'lecture de vins.csv' }, { n: 2, message: '3 lignes prédites' }]],
    );
    renderPage(<ExecutionDetailPage />, { route: '/executions/:executionId', path: '/executions/e1' });
    expect(await screen.findByRole('heading', { name: 'Exécution' })).toBeInTheDocument();
    const general = screen.getByTestId('execution-general');
    expect(within(general).getByText('e1')).toBeInTheDocument();
    expect(within(general).getByText('2.50 s')).toBeInTheDocument();
    expect(screen.getByText('predict_proba')).toBeInTheDocument();
    expect(await screen.findByText('3 lignes prédites')).toBeInTheDocument();
    expect(await screen.findByText('Aperçu : 2 premières lignes sur 3')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: /CSV/ })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: /Parquet/ })).toBeInTheDocument();
    // Finished: no Annuler, but Relancer.
    expect(screen.queryByRole('button', { name: /Annuler/ })).toBeNull();
    expect(screen.getByRole('button', { name: /Relancer/ })).toBeEnabled();
  });

  it('offers Annuler on a running execution, asks first, and sends the cancel', async () => {
    let cancelled = false;
    mockExecution({ ...BASE, status: 'running' }, [[{ n: 1, message: 'démarrage' }]]);
    server.use(
      http.post('/api/v1/executions/e1/cancel', () => {
        cancelled = true;
        return HttpResponse.json({ ...BASE, status: 'running', cancel_requested: true }, { status: 202 });
      }),
    );
    renderPage(<ExecutionDetailPage />, { route: '/executions/:executionId', path: '/executions/e1' });
    await user.click(await screen.findByRole('button', { name: /Annuler/ }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText(/L'exécution e1 sera arrêtée/)).toBeInTheDocument();
    await user.click(within(dialog).getByRole('button', { name: /Annuler/ }));
    await waitFor(() => expect(cancelled).toBe(true));
  });

  it('follows new log lines of a running execution', async () => {
    mockExecution({ ...BASE, status: 'running' }, [
      [{ n: 1, message: 'première ligne' }],
      [{ n: 1, message: 'première ligne' }, { n: 2, message: 'deuxième ligne' }],
    ]);
    renderPage(<ExecutionDetailPage />, { route: '/executions/:executionId', path: '/executions/e1' });
    expect(await screen.findByText('première ligne')).toBeInTheDocument();
    expect(await screen.findByText('deuxième ligne', {}, { timeout: 5000 })).toBeInTheDocument();
    expect(screen.getAllByText('première ligne')).toHaveLength(1);
  });

  it('shows a viewer neither Annuler nor Relancer', async () => {
    mockExecution({ ...BASE, status: 'running' }, [[]]);
    renderPage(<ExecutionDetailPage />, { route: '/executions/:executionId', path: '/executions/e1', role: 'viewer' });
    expect(await screen.findByRole('heading', { name: 'Exécution' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Annuler/ })).toBeNull();
    expect(screen.queryByRole('button', { name: /Relancer/ })).toBeNull();
  });
});

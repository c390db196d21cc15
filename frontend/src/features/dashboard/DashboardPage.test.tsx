import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, within } from '@testing-library/react';
import DashboardPage from './DashboardPage';
import { server } from '../../test/server';
import { renderPage } from '../../test/render';

const SLOW = { timeout: 15_000 };

export const DASHBOARD = {
  counts: { models: 5, deployments: 3, executions: 42 },
  deployments: { active: 2, inactive: 1 },
  executions: {
    total: 42,
    by_status: { queued: 0, running: 1, succeeded: 38, failed: 3, cancelled: 0, timed_out: 0 },
    last_24h: { since: '2026-03-01T10:00:00Z', total: 7, by_status: { queued: 0, running: 1, succeeded: 5, failed: 1, cancelled: 0, timed_out: 0 } },
  },
  models_by_type: { classification: 3, regression: 2 },
  models_by_department: { Finance: 4, RH: 1 },
  recent_activity: [
    { at: '2026-03-01T12:00:00Z', who: 'datascientist', action: 'created', object_type: 'model', object_id: 'm1', label: 'arbre-vins 1.0.0' },
    { at: '2026-03-01T12:05:00Z', who: 'business', action: 'succeeded', object_type: 'execution', object_id: 'e1', label: 'arbre-vins 1.0.0' },
    { at: '2026-03-01T12:06:00Z', who: 'admin', action: 'deleted', object_type: 'deployment', object_id: 'd9', label: 'ancien' },
  ],
  generated_at: '2026-03-01T12:10:00Z',
};

describe('DashboardPage', () => {
  it('shows the counts, the two charts and the recent activity, each figure linking to its list', async () => {
    let calls = 0;
    server.use(http.get('/api/v1/dashboard', () => (calls++, HttpResponse.json(DASHBOARD))));
    renderPage(<DashboardPage />, { route: '/dashboard', role: 'viewer' });
    expect(await screen.findByRole('heading', { name: 'Tableau de bord' }, SLOW)).toBeInTheDocument();
    const models = await screen.findByTestId('stat-models', {}, SLOW);
    expect(within(models).getByRole('link', { name: 'Modèles : 5' })).toHaveAttribute('href', '/models');
    const deployments = screen.getByTestId('stat-deployments');
    expect(within(deployments).getByRole('link', { name: 'Déploiements : 3' })).toBeInTheDocument();
    expect(within(deployments).getByRole('link', { name: 'Actif : 2' })).toHaveAttribute('href', '/deployments?status=active');
    expect(within(deployments).getByRole('link', { name: 'Inactif : 1' })).toHaveAttribute('href', '/deployments?status=inactive');
    expect(within(screen.getByTestId('stat-executions')).getByRole('link', { name: 'Exécutions : 42' })).toHaveAttribute('href', '/executions');
    const last = screen.getByTestId('stat-last-24h');
    expect(within(last).getByRole('link', { name: 'Exécutions des dernières 24 h : 7' })).toHaveAttribute(
      'href', '/executions?from=2026-03-01T10%3A00%3A00Z');
    expect(within(last).getByRole('link', { name: /Réussie : 5$/ })).toHaveAttribute(
      'href', '/executions?from=2026-03-01T10%3A00%3A00Z&status=succeeded');
    expect(within(last).queryByText(/Annulée/)).toBeNull(); // statuses at 0 are left out

    const byType = screen.getByRole('list', { name: 'Répartition des modèles par type' });
    expect(within(byType).getByText('Classification')).toBeInTheDocument();
    expect(within(byType).getByText('Régression')).toBeInTheDocument();
    const byDepartment = screen.getByRole('list', { name: 'Répartition des modèles par département' });
    expect(within(byDepartment).getByRole('link', { name: 'Modèles Finance : 4' })).toHaveAttribute('href', '/models?department=Finance');

    const activity = screen.getByTestId('recent-activity');
    const links = within(activity).getAllByRole('link');
    expect(links.map((link) => link.getAttribute('href'))).toEqual(['/models/m1', '/executions/e1']);
    expect(within(activity).getByText('datascientist')).toBeInTheDocument();
    expect(within(activity).getByText(/Création · modèle/)).toBeInTheDocument();
    // a deleted object is named, not linked
    expect(within(activity).getByText('ancien').closest('a')).toBeNull();
    expect(calls).toBe(1);
  }, 120_000);

  it('says when there is nothing yet and shows an error it can retry', async () => {
    server.use(
      http.get('/api/v1/dashboard', () =>
        HttpResponse.json({ ...DASHBOARD, models_by_type: {}, models_by_department: {}, recent_activity: [] }),
      ),
    );
    renderPage(<DashboardPage />, { route: '/dashboard' });
    expect(await screen.findAllByText("Aucun modèle pour l'instant.", {}, SLOW)).toHaveLength(2);
    expect(screen.getByText('Aucune activité récente.')).toBeInTheDocument();
  }, 120_000);

  it('shows a load error with Réessayer', async () => {
    server.use(http.get('/api/v1/dashboard', () => HttpResponse.json({ error: { code: 'service_unavailable', message: 'x' } }, { status: 503 })));
    renderPage(<DashboardPage />, { route: '/dashboard' });
    expect(await screen.findByRole('button', { name: 'Réessayer' }, SLOW)).toBeInTheDocument();
  }, 120_000);
});

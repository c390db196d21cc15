import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import AuditPage, { objectLink } from './AuditPage';
import { page, server } from '../../test/server';
import { renderPage } from '../../test/render';

const user = userEvent.setup({ delay: null });

const ENTRIES = [
  { id: 'a1', at: '2026-01-02T10:00:00Z', user: 'admin', action: 'deployment.started', object_type: 'deployment', object_id: 'dep1', summary: 'deployment.started nightly', request_id: 'req-1', client: '127.0.0.1' },
  { id: 'a2', at: '2026-01-02T09:00:00Z', user: 'admin', action: 'settings.updated', object_type: 'settings', object_id: 'global', summary: 'settings.updated: max_upload_mb: 200 → 300', request_id: 'req-2', client: '127.0.0.1' },
];

afterEach(() => vi.restoreAllMocks());

// Dialogs and typing are slow on a loaded CI machine: a generous bound, not 60 s.
describe('AuditPage', { timeout: 120_000 }, () => {
  it('shows who, when, what and from where, linking to the objects it can show', async () => {
    server.use(http.get('/api/v1/admin/audit', () => HttpResponse.json(page(ENTRIES, 42))));
    renderPage(<AuditPage />, { route: '/admin/audit', role: 'admin' });
    expect(await screen.findByText('Déploiement démarré')).toBeInTheDocument();
    const row = screen.getByText('Déploiement démarré').closest('tr')!;
    expect(within(row).getByRole('link', { name: 'Déploiement dep1' })).toHaveAttribute('href', '/deployments/dep1');
    expect(within(row).getByText('req-1')).toBeInTheDocument();
    expect(within(row).getAllByText('127.0.0.1').length).toBe(1);
    const settings = screen.getByText('Paramètres modifiés').closest('tr')!;
    expect(within(settings).queryByRole('link')).toBeNull();
    expect(screen.getByText('42 entrée(s)')).toBeInTheDocument();
  });

  it('sends the filters of the URL and pages on the server', async () => {
    const seen: URLSearchParams[] = [];
    server.use(
      http.get('/api/v1/admin/audit', ({ request }) => {
        seen.push(new URL(request.url).searchParams);
        return HttpResponse.json(page(ENTRIES.slice(0, 1), 1));
      }),
    );
    renderPage(<AuditPage />, {
      route: '/admin/audit',
      role: 'admin',
      path: '/admin/audit?user=admin&object_type=deployment&object_id=dep1&from=2026-01-01T00:00:00.000Z&to=2026-01-31T23:59:59.999Z&page=2',
    });
    await screen.findByText('Déploiement démarré');
    const last = seen[seen.length - 1];
    expect(Object.fromEntries(last)).toMatchObject({ user: 'admin', object_type: 'deployment', object_id: 'dep1', from: '2026-01-01T00:00:00.000Z', to: '2026-01-31T23:59:59.999Z', page: '2' });
    expect(screen.getByLabelText('ID de l\'objet')).toHaveValue('dep1');
  });

  it('exports the filtered trail as CSV with the token', async () => {
    let auth: string | null = null;
    let query = '';
    server.use(
      http.get('/api/v1/admin/audit', () => HttpResponse.json(page(ENTRIES))),
      http.get('/api/v1/admin/audit/export', ({ request }) => {
        auth = request.headers.get('Authorization');
        query = new URL(request.url).search;
        return new HttpResponse('at,user\n', { headers: { 'Content-Type': 'text/csv', 'Content-Disposition': 'attachment; filename="audit.csv"' } });
      }),
    );
    const created = vi.fn(() => 'blob:audit');
    Object.assign(URL, { createObjectURL: created, revokeObjectURL: vi.fn() });
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
    renderPage(<AuditPage />, { route: '/admin/audit', role: 'admin', path: '/admin/audit?object_type=settings' });
    await screen.findByText('Déploiement démarré');
    await user.click(screen.getByRole('button', { name: /Exporter/ }));
    await waitFor(() => expect(click).toHaveBeenCalled());
    expect(auth).toBe('Bearer test-token');
    expect(query).toBe('?object_type=settings');
    expect((click.mock.instances[0] as unknown as HTMLAnchorElement).download).toBe('audit.csv');
  });

  it('links models, deployments, executions and users only', () => {
    expect(objectLink('model', 'm 1')).toBe('/models/m%201');
    expect(objectLink('execution', 'e1')).toBe('/executions/e1');
    expect(objectLink('user', 'u1')).toBe('/users');
    expect(objectLink('integration', 'i1')).toBeNull();
    expect(objectLink('model', null)).toBeNull();
  });
});

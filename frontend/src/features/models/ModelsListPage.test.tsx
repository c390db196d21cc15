import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

const user = userEvent.setup({ delay: null });
import ModelsListPage from './ModelsListPage';
import { page, server } from '../../test/server';
import { renderPage } from '../../test/render';

const MODELS = [
  { id: 'm1', name: 'arbre-vins', version: '1.0.0', type: 'classification', framework: 'scikit-learn', department: 'Finance', region: 'Europe', status: 'ready', updated_at: '2026-01-02T10:00:00Z', tags: [] },
  { id: 'm2', name: 'régression-diabète', version: '2.0.0', type: 'regression', framework: 'scikit-learn', department: 'RH', region: 'Asie', status: 'draft', updated_at: '2026-01-03T10:00:00Z', tags: [] },
];
const FACETS = { department: ['Finance', 'RH'], region: ['Asie', 'Europe'], status: ['draft', 'ready'], type: [], framework: [] };

function mockApi(seen: URLSearchParams[]) {
  server.use(
    http.get('/api/v1/models/facets', () => HttpResponse.json(FACETS)),
    http.get('/api/v1/models', ({ request }) => {
      const params = new URL(request.url).searchParams;
      seen.push(params);
      const q = params.get('q');
      const items = MODELS.filter((m) => !q || m.name.includes(q)).filter((m) => !params.get('department') || m.department === params.get('department'));
      return HttpResponse.json(page(items));
    }),
  );
}

describe('ModelsListPage', () => {
  it('lists the models with the guide labels and the actions of a data scientist', async () => {
    mockApi([]);
    renderPage(<ModelsListPage />, { route: '/models' });
    expect(await screen.findByText('arbre-vins')).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Modèles' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: /Ajouter un modèle/ })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Modifier arbre-vins' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Supprimer arbre-vins' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Voir arbre-vins' })).toBeInTheDocument();
  });

  it('shows a viewer no add, edit or delete', async () => {
    mockApi([]);
    renderPage(<ModelsListPage />, { route: '/models', role: 'viewer' });
    expect(await screen.findByText('arbre-vins')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Ajouter un modèle/ })).toBeNull();
    expect(screen.queryByRole('button', { name: /Modifier/ })).toBeNull();
    expect(screen.queryByRole('button', { name: /Supprimer/ })).toBeNull();
    expect(screen.getByRole('button', { name: 'Voir arbre-vins' })).toBeInTheDocument();
  });

  it('sends the search as q (debounced) and keeps it in the URL without defaults', async () => {
    const seen: URLSearchParams[] = [];
    mockApi(seen);
    const { router } = renderPage(<ModelsListPage />, { route: '/models' });
    await screen.findByText('arbre-vins');
    await user.type(screen.getByRole('searchbox'), 'arbre');
    await waitFor(() => expect(router.state.location.search).toBe('?q=arbre'));
    await waitFor(() => expect(screen.queryByText('régression-diabète')).toBeNull());
    // one request for the typed word, not one per key
    expect(seen.filter((p) => p.get('q')).map((p) => p.get('q'))).toEqual(['arbre']);
    expect(seen.at(-1)!.get('sort')).toBe('-created_at');
  });

  it('reads its filters from the URL (a link reproduces the view)', async () => {
    const seen: URLSearchParams[] = [];
    mockApi(seen);
    renderPage(<ModelsListPage />, { route: '/models', path: '/models?department=RH&page=1&sort=name' });
    expect(await screen.findByText('régression-diabète')).toBeInTheDocument();
    expect(screen.queryByText('arbre-vins')).toBeNull();
    expect(seen[0].get('department')).toBe('RH');
    expect(seen[0].get('sort')).toBe('name');
  });

  it('shows an empty state and an error state', async () => {
    server.use(
      http.get('/api/v1/models/facets', () => HttpResponse.json(FACETS)),
      http.get('/api/v1/models', () => HttpResponse.json(page([]))),
    );
    renderPage(<ModelsListPage />, { route: '/models' });
    expect(await screen.findByText('Aucun modèle ne correspond')).toBeInTheDocument();
  });

  it('a 403 is a clear message, not a blank page', async () => {
    server.use(
      http.get('/api/v1/models/facets', () => HttpResponse.json(FACETS)),
      http.get('/api/v1/models', () => HttpResponse.json({ error: { code: 'forbidden', message: 'no', details: {} } }, { status: 403 })),
    );
    renderPage(<ModelsListPage />, { route: '/models' });
    expect(await screen.findByText('Accès refusé')).toBeInTheDocument();
  });

  it('offers the filter values found in the data', async () => {
    mockApi([]);
    renderPage(<ModelsListPage />, { route: '/models' });
    await screen.findByText('arbre-vins');
    await user.click(screen.getByRole('combobox', { name: 'Département' }));
    const listbox = await screen.findByRole('listbox');
    expect(within(document.body).getAllByText('Finance').length).toBeGreaterThan(0);
    expect(listbox).toBeInTheDocument();
  });
});

import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import UsersListPage from './UsersListPage';
import { page, server } from '../../test/server';
import { renderPage } from '../../test/render';

const user = userEvent.setup({ delay: null });

/** The table has finished (re)loading: antd blurs it, pointer-events off, meanwhile. */
async function tableSettled() {
  await waitFor(() => expect(document.querySelector('.ant-spin-blur')).toBeNull());
}

const USERS = [
  { id: 'u1', username: 'admin', first_name: 'Camille', last_name: 'Martin', email: 'admin@example.com', role: 'admin', active: true, locked: false, created_at: '2026-01-02T10:00:00Z' },
  { id: 'u2', username: 'ana', first_name: 'Ana', last_name: 'Lopes', email: 'ana@example.com', role: 'data-scientist', active: true, locked: true, locked_until: '2026-01-02T11:00:00Z', created_at: '2026-01-03T10:00:00Z' },
];

function mockList(seen: URLSearchParams[] = []) {
  server.use(
    http.get('/api/v1/users', ({ request }) => {
      const params = new URL(request.url).searchParams;
      seen.push(params);
      const role = params.get('role');
      return HttpResponse.json(page(USERS.filter((u) => !role || u.role === role)));
    }),
  );
}

describe('UsersListPage', () => {
  it('lists the users with the guide labels, roles and the lockout state', async () => {
    mockList();
    renderPage(<UsersListPage />, { route: '/users', role: 'admin' });
    expect(await screen.findByText('ana')).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Liste des utilisateurs' })).toBeInTheDocument();
    const row = screen.getByText('ana').closest('tr')!;
    expect(within(row).getByText('Data Scientist')).toBeInTheDocument();
    expect(within(row).getByText('Verrouillé')).toBeInTheDocument();
    expect(within(row).getByRole('button', { name: 'Débloquer ana' })).toBeInTheDocument();
    const adminRow = screen.getByText('admin@example.com').closest('tr')!;
    expect(within(adminRow).queryByRole('button', { name: /Débloquer/ })).toBeNull();
  });

  it('keeps the role and state filters in the URL and sends them', async () => {
    const seen: URLSearchParams[] = [];
    mockList(seen);
    renderPage(<UsersListPage />, { route: '/users', role: 'admin', path: '/users?role=admin&state=inactive' });
    await screen.findByText('admin@example.com');
    expect(seen[0].get('role')).toBe('admin');
    expect(seen[0].get('active')).toBe('false');
  });

  it('creates a user and shows the field errors of the API next to their fields', async () => {
    mockList();
    let body: Record<string, unknown> | undefined;
    server.use(
      http.post('/api/v1/users', async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json(
          { error: { code: 'validation_error', message: 'invalid password', details: { password: ['Le mot de passe doit contenir au moins 8 caractères.'] } } },
          { status: 400 },
        );
      }),
    );
    renderPage(<UsersListPage />, { route: '/users', role: 'admin' });
    await screen.findByText('ana');
    await user.click(screen.getByRole('button', { name: /Ajouter un utilisateur/ }));
    const dialog = await screen.findByRole('dialog', { name: "Création d'utilisateur" });
    await user.type(within(dialog).getByLabelText("Nom d'utilisateur"), 'bob');
    await user.type(within(dialog).getByLabelText('Prénom'), 'Bob');
    await user.type(within(dialog).getByLabelText('Mot de passe initial'), 'court');
    expect(within(dialog).getByLabelText('Temporaire (à changer à la première connexion)')).toBeChecked();
    await user.click(within(dialog).getByRole('button', { name: 'Créer' }));
    expect(await within(dialog).findByText('Le mot de passe doit contenir au moins 8 caractères.')).toBeInTheDocument();
    expect(body).toMatchObject({ username: 'bob', first_name: 'Bob', role: 'viewer', password: 'court', temporary: true });
  });

  it('asks before deactivating, naming the user, then sends active=false', async () => {
    mockList();
    let patched: unknown;
    server.use(
      http.patch('/api/v1/users/u2', async ({ request }) => {
        patched = await request.json();
        return HttpResponse.json({ ...USERS[1], active: false });
      }),
    );
    renderPage(<UsersListPage />, { route: '/users', role: 'admin' });
    await screen.findByText('ana');
    await tableSettled();
    await user.click(screen.getByRole('button', { name: 'Désactiver ana' }));
    const confirm = await screen.findByRole('dialog');
    expect(within(confirm).getAllByText("Désactivation d'utilisateur").length).toBeGreaterThan(0);
    expect(within(confirm).getByText(/Ana Lopes \(ana\)/)).toBeInTheDocument();
    expect(patched).toBeUndefined();
    await user.click(within(confirm).getByRole('button', { name: 'Désactiver' }));
    await waitFor(() => expect(patched).toEqual({ active: false }));
  });

  it('says why the last admin cannot be deactivated', async () => {
    mockList();
    server.use(
      http.patch('/api/v1/users/u1', () =>
        HttpResponse.json({ error: { code: 'conflict', message: 'last admin', details: { rule: 'last_active_admin' } } }, { status: 409 }),
      ),
    );
    renderPage(<UsersListPage />, { route: '/users', role: 'admin' });
    await screen.findByText('ana');
    await tableSettled();
    await user.click(screen.getByRole('button', { name: 'Désactiver admin' }));
    const confirm = await screen.findByRole('dialog');
    await user.click(within(confirm).getByRole('button', { name: 'Désactiver' }));
    expect(await screen.findByText(/Le dernier administrateur actif/)).toBeInTheDocument();
  });
});

import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

const user = userEvent.setup({ delay: null });
import ModelFormPage from './ModelFormPage';
import { isSemver } from './constants';
import { envelope, server } from '../../test/server';
import { renderRoutes } from '../../test/render';

const FACETS = { department: ['Finance'], region: ['Europe'], status: ['ready'], type: [], framework: [] };

function renderForm() {
  server.use(http.get('/api/v1/models/facets', () => HttpResponse.json(FACETS)));
  return renderRoutes(
    [
      { path: '/models/new', element: <ModelFormPage /> },
      { path: '/models/:modelId', element: <div data-testid="detail" /> },
    ],
    { path: '/models/new' },
  );
}

describe('isSemver', () => {
  it('accepts semantic versions only', () => {
    expect(isSemver('1.0.0')).toBe(true);
    expect(isSemver('2.10.3-rc.1+build.5')).toBe(true);
    expect(isSemver('1.0')).toBe(false);
    expect(isSemver('01.0.0')).toBe(false);
    expect(isSemver('v1.0.0')).toBe(false);
  });
});

describe('ModelFormPage', () => {
  it('presets the version to 1.0.0 and checks it as you type', async () => {
    renderForm();
    const version = screen.getByLabelText('Version');
    expect(version).toHaveValue('1.0.0');
    await user.clear(version);
    await user.type(version, '1.0');
    expect(await screen.findByText('Version sémantique attendue, par exemple 1.0.0')).toBeInTheDocument();
    await user.type(version, '.1');
    await waitFor(() => expect(screen.queryByText('Version sémantique attendue, par exemple 1.0.0')).toBeNull());
  });

  it('creates the model with its file in one multipart call and opens its page', async () => {
    let metadata: Record<string, unknown> | null = null;
    let fileText: string | null = null;
    server.use(
      http.post('/api/v1/models', async ({ request }) => {
        const form = await request.formData();
        metadata = JSON.parse(await (form.get('metadata') as Blob).text());
        fileText = await (form.get('file') as Blob).text();
        return HttpResponse.json({ id: 'new-1', name: 'vins', version: '1.0.0' }, { status: 201 });
      }),
    );
    const { router, container } = renderForm();
    await user.type(screen.getByLabelText('Nom'), 'vins');
    await user.type(screen.getByLabelText('Description'), 'Arbre');
    const input = container.querySelector('input[type=file]') as HTMLInputElement;
    await user.upload(input, new File(['model'], 'arbre.joblib'));
    await user.click(screen.getByRole('button', { name: 'Créer le modèle' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/models/new-1'));
    expect(metadata).toMatchObject({ name: 'vins', description: 'Arbre', version: '1.0.0', type: 'classification', framework: 'scikit-learn' });
    expect(fileText).toBe('model');
  });

  it("shows why the registry refused a file (the unsafe global)", async () => {
    server.use(
      http.post('/api/v1/models', () =>
        HttpResponse.json(
          envelope('invalid_model_file', "global 'posix.system' is forbidden", { reason: 'forbidden_global', offending_global: 'posix.system' }),
          { status: 422 },
        ),
      ),
    );
    const { container } = renderForm();
    await user.type(screen.getByLabelText('Nom'), 'evil');
    await user.upload(container.querySelector('input[type=file]') as HTMLInputElement, new File(['x'], 'evil.pkl'));
    await user.click(screen.getByRole('button', { name: 'Créer le modèle' }));
    expect(await screen.findByText('Fichier refusé par le registre')).toBeInTheDocument();
    expect(screen.getByText('posix.system')).toBeInTheDocument();
    expect(screen.getByText(/hors de la liste autorisée/)).toBeInTheDocument();
  });

  it("puts a 400's field errors next to their fields", async () => {
    server.use(
      http.post('/api/v1/models', () =>
        HttpResponse.json(envelope('validation_error', 'invalid region', { region: ['Longer than maximum length 200.'] }), { status: 400 }),
      ),
    );
    renderForm();
    await user.type(screen.getByLabelText('Nom'), 'x');
    await user.click(screen.getByRole('button', { name: 'Créer le modèle' }));
    expect(await screen.findByText('Longer than maximum length 200.')).toBeInTheDocument();
  });

  it('requires a name', async () => {
    renderForm();
    await user.click(screen.getByRole('button', { name: 'Créer le modèle' }));
    expect(await screen.findByText('Ce champ est obligatoire')).toBeInTheDocument();
  });
});

import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import DeleteModelDialog from './DeleteModelDialog';
import { envelope, server } from '../../test/server';
import { renderPage } from '../../test/render';

const MODEL = { id: 'm1', name: 'arbre-vins', version: '1.0.0' };

describe('DeleteModelDialog', () => {
  it('names the model and deletes it once confirmed', async () => {
    let deleted = false;
    server.use(http.delete('/api/v1/models/m1', () => ((deleted = true), new HttpResponse(null, { status: 204 }))));
    const onDeleted = vi.fn();
    renderPage(<DeleteModelDialog model={MODEL} onClose={() => {}} onDeleted={onDeleted} />);
    expect(await screen.findByText('Supprimer définitivement le modèle « arbre-vins 1.0.0 » et son fichier ?')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Supprimer' }));
    await vi.waitFor(() => expect(onDeleted).toHaveBeenCalled());
    expect(deleted).toBe(true);
  });

  it('lists the deployments that still use the model (409)', async () => {
    server.use(
      http.delete('/api/v1/models/m1', () =>
        HttpResponse.json(envelope('conflict', 'in use', { deployments: [{ id: 'd1', name: 'prod-quotidien' }] }), { status: 409 }),
      ),
    );
    renderPage(<DeleteModelDialog model={MODEL} onClose={() => {}} />);
    await userEvent.click(await screen.findByRole('button', { name: 'Supprimer' }));
    expect(await screen.findByText('Suppression impossible')).toBeInTheDocument();
    expect(screen.getByTestId('blocking-deployments')).toHaveTextContent('prod-quotidien');
  });
});

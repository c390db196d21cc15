import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { DateTime, formatUtc } from './DateTime';
import { DataTable, nextSort } from './DataTable';
import { toParameters } from './KeyValueEditor';

describe('DateTime', () => {
  it('shows the local time with the exact UTC time for hover and screen readers', () => {
    render(<DateTime value="2026-03-29T01:30:00Z" timeZone="Europe/Paris" />);
    const time = screen.getByText('29/03/2026 03:30:00');
    expect(time).toHaveAttribute('datetime', '2026-03-29T01:30:00Z');
    expect(time).toHaveAttribute('aria-label', '29/03/2026 03:30:00 (2026-03-29 01:30:00 UTC)');
    expect(formatUtc('2026-12-02T07:00:00+01:00')).toBe('2026-12-02 06:00:00 UTC');
  });
  it('says nothing is there for a missing date', () => {
    render(<DateTime value={null} />);
    expect(screen.getByText('—')).toBeInTheDocument();
  });
});

describe('DataTable', () => {
  it('cycles a header sort: ascending, descending, default', () => {
    expect(nextSort(undefined, 'name')).toBe('name');
    expect(nextSort('name', 'name')).toBe('-name');
    expect(nextSort('-name', 'name')).toBeUndefined();
    expect(nextSort('-region', 'name')).toBe('name');
  });
  it('announces the sort state and asks for the next one', async () => {
    const sorts: (string | undefined)[] = [];
    render(
      <DataTable<{ id: string; name: string }>
        columns={[{ key: 'name', title: 'Nom', sortField: 'name', render: (row) => row.name }]}
        rows={[{ id: '1', name: 'arbre' }]}
        rowKey={(row) => row.id}
        empty="vide"
        sort="name"
        onSort={(sort) => sorts.push(sort)}
        page={1}
        perPage={20}
        total={1}
        onPage={() => {}}
      />,
    );
    expect(screen.getByRole('columnheader', { name: /Nom/ })).toHaveAttribute('aria-sort', 'ascending');
    await userEvent.click(screen.getByRole('button', { name: 'Nom — tri croissant' }));
    expect(sorts).toEqual(['-name']);
    expect(screen.getByRole('cell', { name: 'arbre' })).toBeInTheDocument();
  });
});

describe('KeyValueEditor', () => {
  it('reads values as JSON when they parse', () => {
    expect(toParameters([{ key: ' seuil ', value: '0.5' }, { key: 'proba', value: 'true' }, { key: 'nom', value: 'a b' }, { key: '', value: 'x' }])).toEqual({
      seuil: 0.5,
      proba: true,
      nom: 'a b',
    });
  });
});

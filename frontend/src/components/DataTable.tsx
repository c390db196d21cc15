/**
 * A light, accessible table for server-side lists (sort and paging done by the API).
 * Ant Design's Table brings its filter tree, selection and virtual-list code (≈ 60 kB
 * gzip) that a server-paged list never uses; the first screen stays small with this.
 */
import type { Key, ReactNode } from 'react';
import { Pagination, Spin, theme } from 'antd';
import { CaretDownOutlined, CaretUpOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';

export interface Column<T> {
  key: string;
  title: string;
  render: (row: T) => ReactNode;
  /** The API's sort field: the header becomes a sort button. */
  sortField?: string;
}

interface Props<T> {
  columns: Column<T>[];
  rows: T[] | undefined;
  rowKey: (row: T) => Key;
  loading?: boolean;
  empty: string;
  /** `name`, `-name` (descending) or the default. */
  sort?: string;
  onSort?: (sort: string | undefined) => void;
  page: number;
  perPage: number;
  total: number;
  onPage: (page: number, perPage: number) => void;
  totalText?: (total: number) => string;
  testId?: string;
}

/** Next sort on a header click: ascending, descending, then back to the default. */
export function nextSort(current: string | undefined, field: string): string | undefined {
  if (current === field) return `-${field}`;
  if (current === `-${field}`) return undefined;
  return field;
}

export function DataTable<T>(props: Props<T>) {
  const { t } = useTranslation();
  const { token } = theme.useToken();
  const { columns, rows, sort } = props;
  const cell = { padding: '12px 16px', borderBottom: `1px solid ${token.colorBorderSecondary}`, textAlign: 'left' as const };

  const header = (column: Column<T>) => {
    if (!column.sortField) return column.title;
    const field = column.sortField;
    const state = sort === field ? 'ascending' : sort === `-${field}` ? 'descending' : 'none';
    return (
      <button
        type="button"
        onClick={() => props.onSort?.(nextSort(sort, field))}
        style={{ all: 'unset', cursor: 'pointer', display: 'flex', alignItems: 'center', gap: 6, width: '100%' }}
        aria-label={`${column.title} — ${t(`table.sort_${state}`)}`}
      >
        {column.title}
        <span aria-hidden style={{ display: 'inline-flex', flexDirection: 'column', fontSize: 10, lineHeight: 0.9 }}>
          <CaretUpOutlined style={{ color: state === 'ascending' ? token.colorPrimary : token.colorTextQuaternary }} />
          <CaretDownOutlined style={{ color: state === 'descending' ? token.colorPrimary : token.colorTextQuaternary }} />
        </span>
      </button>
    );
  };

  return (
    <div data-testid={props.testId}>
      <Spin spinning={Boolean(props.loading)}>
        <div style={{ overflowX: 'auto', background: token.colorBgContainer, borderRadius: token.borderRadiusLG }}>
          <table style={{ width: '100%', borderCollapse: 'collapse', fontSize: token.fontSize }}>
            <thead>
              <tr style={{ background: token.colorFillAlter }}>
                {columns.map((column) => {
                  const field = column.sortField;
                  const ariaSort = !field ? undefined : sort === field ? 'ascending' : sort === `-${field}` ? 'descending' : 'none';
                  return (
                    <th key={column.key} scope="col" aria-sort={ariaSort} style={{ ...cell, fontWeight: 600 }}>
                      {header(column)}
                    </th>
                  );
                })}
              </tr>
            </thead>
            <tbody>
              {rows?.length ? (
                rows.map((row) => (
                  <tr key={props.rowKey(row)}>
                    {columns.map((column) => (
                      <td key={column.key} style={cell}>
                        {column.render(row)}
                      </td>
                    ))}
                  </tr>
                ))
              ) : (
                <tr>
                  <td colSpan={columns.length} style={{ ...cell, textAlign: 'center', padding: 32, color: token.colorTextSecondary }}>
                    {props.loading && !rows ? t('common.loading') : props.empty}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </Spin>
      <div style={{ display: 'flex', justifyContent: 'flex-end', marginTop: 16 }}>
        <Pagination
          current={props.page}
          pageSize={props.perPage}
          total={props.total}
          showSizeChanger
          pageSizeOptions={[10, 20, 50, 100]}
          showTotal={props.totalText}
          onChange={(page, perPage) => props.onPage(perPage !== props.perPage ? 1 : page, perPage)}
        />
      </div>
    </div>
  );
}

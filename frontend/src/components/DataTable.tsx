/**
 * A light, accessible table for server-side lists (sort and paging done by the API).
 * Ant Design's Table brings its filter tree, selection and virtual-list code (≈ 60 kB
 * gzip) that a server-paged list never uses; the first screen stays small with this.
 */
import { memo, useMemo, type CSSProperties, type Key, type ReactElement, type ReactNode } from 'react';
import { Pagination, Spin, theme } from 'antd';
import { CaretDownOutlined, CaretUpOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';

const SPIN_DELAY_MS = 150;

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
  /**
   * Without it rows are keyed by position: a new page updates the rows in place instead
   * of mounting every cell again (antd looks its CSS up again on each mount, which
   * costs more than the request). Only for cells that keep no state of their own.
   */
  rowKey?: (row: T) => Key;
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

interface RowProps<T> {
  row: T;
  columns: Column<T>[];
  cell: CSSProperties;
}

/** A row renders again only when its item, the columns or the cell style change. */
const Row = memo(function Row<T>({ row, columns, cell }: RowProps<T>) {
  return (
    <tr>
      {columns.map((column) => (
        <td key={column.key} style={cell}>
          {column.render(row)}
        </td>
      ))}
    </tr>
  );
}) as <T>(props: RowProps<T>) => ReactElement;

export function DataTable<T>(props: Props<T>) {
  const { t } = useTranslation();
  const { token } = theme.useToken();
  const { columns, rows, sort, rowKey } = props;
  const cell = useMemo(
    () => ({ padding: '12px 16px', borderBottom: `1px solid ${token.colorBorderSecondary}`, textAlign: 'left' as const }),
    [token.colorBorderSecondary],
  );

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
      {/* Rows on screen already (a new page, sort or filter is on its way): the spinner
          only for an answer that takes a while, so a quick one replaces the rows without
          a flash of spinner (and the style work of showing and hiding it). */}
      <Spin spinning={Boolean(props.loading)} delay={rows ? SPIN_DELAY_MS : 0}>
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
                rows.map((row, index) => (
                  <Row<T> key={rowKey ? rowKey(row) : index} row={row} columns={columns} cell={cell} />
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

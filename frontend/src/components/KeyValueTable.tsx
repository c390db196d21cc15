/** A small name → value table (parameters, metrics); an empty state when there is none. */
import { Empty, Table, Typography } from 'antd';
import { useTranslation } from 'react-i18next';

export function KeyValueTable({ data, empty }: { data: Record<string, unknown> | null | undefined; empty: string }) {
  const { t } = useTranslation();
  const rows = Object.entries(data ?? {}).map(([key, value]) => ({ key, value }));
  if (!rows.length) return <Empty description={empty} />;
  return (
    <Table
      size="small"
      pagination={false}
      rowKey="key"
      dataSource={rows}
      columns={[
        { title: t('common.name'), dataIndex: 'key' },
        {
          title: t('common.value'),
          dataIndex: 'value',
          render: (value: unknown) => (
            <Typography.Text code>{typeof value === 'string' ? value : JSON.stringify(value)}</Typography.Text>
          ),
        },
      ]}
    />
  );
}

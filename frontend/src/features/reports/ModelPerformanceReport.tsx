/** Performances des modèles: each model version, its metrics (comparable across the
 * versions of one name: "Comparer les versions") and its executions in the period. */
import { Button, Input, Space, Table, Tag, Typography } from 'antd';
import type { TableProps } from 'antd';
import { Link } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { executionsLink, useReport, type ModelPerformance, type ModelPerformanceItem } from './api';
import { count, percent, seconds } from './format';
import { Period, ReportQuery } from './ReportState';
import { reportParams, type ReportState, type SetReportState } from './state';

export function ModelPerformanceReport({ state, setState }: { state: ReportState; setState: SetReportState }) {
  const { t } = useTranslation();
  const query = useReport<ModelPerformance>('model-performance', reportParams('model-performance', state));
  return (
    <ReportQuery query={query}>
      {(data) => {
        const period = { from: data.from ?? undefined, to: data.to ?? undefined };
        const link = (item: ModelPerformanceItem, status?: string) =>
          executionsLink({ model_id: item.model_id, ...period, status });
        const columns: TableProps<ModelPerformanceItem>['columns'] = [
          {
            title: t('reports.columns.model'),
            key: 'name',
            render: (_, item) => <Link to={`/models/${item.model_id}`}>{item.name}</Link>,
          },
          { title: t('reports.columns.version'), dataIndex: 'version', key: 'version' },
          { title: t('reports.columns.type'), dataIndex: 'type', key: 'type', render: (v: string) => (v ? t(`models.types.${v}`, { defaultValue: v }) : '—') },
          { title: t('reports.department'), dataIndex: 'department', key: 'department' },
          { title: t('reports.region'), dataIndex: 'region', key: 'region' },
          ...(data.metric_names ?? []).map((metric) => ({
            title: metric,
            key: `metric-${metric}`,
            render: (_: unknown, item: ModelPerformanceItem) => {
              const value = item.metrics?.[metric];
              return value == null ? '—' : value.toLocaleString('fr-FR', { maximumFractionDigits: 4 });
            },
          })),
          {
            title: t('reports.columns.executions'),
            key: 'executions',
            render: (_, item) => <Link to={link(item)} data-testid="executions-count">{count(item.executions)}</Link>,
          },
          { title: t('reports.columns.succeeded'), key: 'succeeded', render: (_, item) => <Link to={link(item, 'succeeded')}>{count(item.succeeded)}</Link> },
          { title: t('reports.columns.failed'), key: 'failed', render: (_, item) => <Link to={link(item, 'failed')}>{count(item.failed)}</Link> },
          { title: t('reports.columns.success_rate'), key: 'rate', render: (_, item) => percent(item.success_rate) },
          { title: t('reports.columns.rows_scored'), key: 'rows', render: (_, item) => count(item.rows_scored) },
          { title: t('reports.columns.compute'), key: 'compute', render: (_, item) => seconds(item.compute_s, t) },
          { title: t('reports.columns.mean_duration'), key: 'mean', render: (_, item) => seconds(item.mean_duration_s, t) },
          {
            title: t('common.actions'),
            key: 'compare',
            render: (_, item) => (
              <Button size="small" aria-label={`${t('reports.compare')} ${item.name}`} onClick={() => setState({ name: item.name, page: 1 })}>
                {t('reports.compare')}
              </Button>
            ),
          },
        ];
        return (
          <Space direction="vertical" style={{ width: '100%' }}>
            <Space wrap>
              <Period from={data.from} to={data.to} />
              {state.name ? (
                <Tag closable onClose={() => setState({ name: undefined, page: 1 })} data-testid="compare-name">
                  {t('reports.versions_of', { name: state.name })}
                </Tag>
              ) : (
                <Input.Search
                  allowClear
                  aria-label={t('reports.model_name')}
                  placeholder={t('reports.model_name')}
                  style={{ width: 240 }}
                  onSearch={(value) => setState({ name: value || undefined, page: 1 })}
                />
              )}
            </Space>
            {state.name && <Typography.Text type="secondary">{t('reports.compare_help')}</Typography.Text>}
            <Table<ModelPerformanceItem>
              rowKey="model_id"
              data-testid="report-table"
              size="small"
              scroll={{ x: true }}
              columns={columns}
              dataSource={data.items}
              loading={query.isFetching && query.isPlaceholderData}
              locale={{ emptyText: t('reports.empty') }}
              onChange={(pagination) => setState({ page: pagination.current ?? 1, per_page: pagination.pageSize ?? 20 })}
              pagination={{
                current: data.page ?? state.page,
                pageSize: data.per_page ?? state.per_page,
                total: data.total ?? 0,
                showSizeChanger: true,
                pageSizeOptions: [10, 20, 50, 100],
                showTotal: (total) => t('reports.models_total', { count: total }),
              }}
            />
          </Space>
        );
      }}
    </ReportQuery>
  );
}

/** Statut des déploiements: active and inactive deployments with their next and last runs. */
import { Card, Col, Row, Select, Space, Table, Typography } from 'antd';
import type { TableProps } from 'antd';
import { Link } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { buildQuery } from '../../api/client';
import { DateTime } from '../../components/DateTime';
import { StatusBadge } from '../../components/StatusBadge';
import { useReport, type DeploymentStatus, type DeploymentStatusItem } from './api';
import { count } from './format';
import { Period, ReportQuery } from './ReportState';
import { reportParams, type ReportState, type SetReportState } from './state';

interface LastRun {
  id?: string;
  status?: string;
  at?: string | null;
  created_at?: string | null;
}

export function DeploymentStatusReport({ state, setState }: { state: ReportState; setState: SetReportState }) {
  const { t } = useTranslation();
  const query = useReport<DeploymentStatus>('deployment-status', reportParams('deployment-status', state));
  return (
    <ReportQuery query={query}>
      {(data) => {
        const where = { department: data.department ?? undefined, region: data.region ?? undefined };
        const columns: TableProps<DeploymentStatusItem>['columns'] = [
          { title: t('reports.columns.deployment'), key: 'name', render: (_, d) => <Link to={`/deployments/${d.id}`}>{d.name ?? d.id}</Link> },
          {
            title: t('reports.columns.model'),
            key: 'model',
            render: (_, d) =>
              d.model_id ? <Link to={`/models/${d.model_id}`}>{[d.model_name, d.model_version].filter(Boolean).join(' ') || d.model_id}</Link> : '—',
          },
          { title: t('reports.department'), dataIndex: 'department', key: 'department' },
          { title: t('reports.region'), dataIndex: 'region', key: 'region' },
          { title: t('common.status'), key: 'status', render: (_, d) => <StatusBadge status={d.status ?? 'inactive'} /> },
          {
            title: t('reports.columns.schedule'),
            key: 'schedule',
            render: (_, d) => (d.schedule ? <Typography.Text code>{d.schedule}</Typography.Text> : t('reports.no_schedule')),
          },
          { title: t('reports.columns.next_run'), key: 'next', render: (_, d) => <DateTime value={d.next_run_at} timeZone={d.timezone ?? undefined} /> },
          {
            title: t('reports.columns.last_run'),
            key: 'last',
            render: (_, d) => {
              const last = d.last_run as LastRun | null | undefined;
              if (!last?.id) return t('reports.never_run');
              return (
                <Space size={6} wrap>
                  <Link to={`/executions/${last.id}`} aria-label={t('reports.open_execution', { id: last.id, status: t(`statuses.${last.status}`) })}>
                    <StatusBadge status={last.status ?? 'queued'} />
                  </Link>
                  <DateTime value={last.at ?? last.created_at} />
                </Space>
              );
            },
          },
        ];
        const summary = data.summary ?? {};
        return (
          <Space direction="vertical" style={{ width: '100%' }} size={16}>
            <Space wrap>
              <Period from={data.from} to={data.to} />
              <Select
                allowClear
                style={{ width: 160 }}
                placeholder={t('common.status')}
                aria-label={t('common.status')}
                value={state.status}
                options={['active', 'inactive'].map((value) => ({ value, label: t(`statuses.${value}`) }))}
                onChange={(value) => setState({ status: value, page: 1 })}
              />
            </Space>
            <Row gutter={[12, 12]}>
              {(['active', 'inactive'] as const).map((status) => (
                <Col key={status} xs={12} md={6}>
                  <Card size="small" title={t(`statuses.${status}`)} data-testid={`summary-${status}`}>
                    <Link to={`/deployments${buildQuery({ ...where, status })}`} style={{ fontSize: 20 }}>
                      {count(summary[status])}
                    </Link>
                  </Card>
                </Col>
              ))}
            </Row>
            <Table<DeploymentStatusItem>
              rowKey={(d) => d.id ?? ''}
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
                showTotal: (total) => t('reports.deployments_total', { count: total }),
              }}
            />
          </Space>
        );
      }}
    </ReportQuery>
  );
}

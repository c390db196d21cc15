/** Utilisation par département: models, deployments, executions, rows scored and compute
 * time per department in the period; each figure opens the list it counts. */
import { Card, Space, Table } from 'antd';
import type { TableProps } from 'antd';
import { Link } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { buildQuery } from '../../api/client';
import { BarList } from '../dashboard/charts';
import { executionsLink, useReport, type DepartmentUsage, type DepartmentUsageItem } from './api';
import { count, percent, seconds } from './format';
import { Period, ReportQuery } from './ReportState';
import { reportParams, type ReportState, type SetReportState } from './state';

export function DepartmentUsageReport({ state }: { state: ReportState; setState: SetReportState }) {
  const { t } = useTranslation();
  const query = useReport<DepartmentUsage>('department-usage', reportParams('department-usage', state));
  return (
    <ReportQuery query={query}>
      {(data) => {
        const region = data.region ?? undefined;
        const period = { from: data.from ?? undefined, to: data.to ?? undefined };
        const link = (item: DepartmentUsageItem, status?: string) =>
          executionsLink({ department: item.department, region, ...period, status });
        const list = (kind: 'models' | 'deployments', item: DepartmentUsageItem, extra: Record<string, string> = {}) =>
          `/${kind}${buildQuery({ department: item.department, region, ...extra })}`;
        const columns: TableProps<DepartmentUsageItem>['columns'] = [
          { title: t('reports.department'), dataIndex: 'department', key: 'department' },
          { title: t('reports.columns.models'), key: 'models', render: (_, i) => <Link to={list('models', i)}>{count(i.models)}</Link> },
          { title: t('reports.columns.deployments'), key: 'deployments', render: (_, i) => <Link to={list('deployments', i)}>{count(i.deployments)}</Link> },
          {
            title: t('reports.columns.active_deployments'),
            key: 'active',
            render: (_, i) => <Link to={list('deployments', i, { status: 'active' })}>{count(i.active_deployments)}</Link>,
          },
          { title: t('reports.columns.executions'), key: 'executions', render: (_, i) => <Link to={link(i)} data-testid="executions-count">{count(i.executions)}</Link> },
          { title: t('reports.columns.succeeded'), key: 'succeeded', render: (_, i) => <Link to={link(i, 'succeeded')}>{count(i.succeeded)}</Link> },
          { title: t('reports.columns.failed'), key: 'failed', render: (_, i) => <Link to={link(i, 'failed')}>{count(i.failed)}</Link> },
          { title: t('reports.columns.success_rate'), key: 'rate', render: (_, i) => percent(i.success_rate) },
          { title: t('reports.columns.rows_scored'), key: 'rows', render: (_, i) => count(i.rows_scored) },
          { title: t('reports.columns.compute'), key: 'compute', render: (_, i) => seconds(i.compute_s, t) },
        ];
        const items = data.items ?? [];
        return (
          <Space direction="vertical" style={{ width: '100%' }} size={16}>
            <Period from={data.from} to={data.to} />
            <Card size="small" title={t('reports.executions_by_department')}>
              <BarList
                title={t('reports.executions_by_department')}
                empty={t('reports.empty')}
                bars={items.map((item) => ({ key: item.department ?? '', label: item.department ?? '', value: item.executions ?? 0 }))}
              />
            </Card>
            <Table<DepartmentUsageItem>
              rowKey={(item) => item.department ?? ''}
              data-testid="report-table"
              size="small"
              scroll={{ x: true }}
              columns={columns}
              dataSource={items}
              pagination={false}
              locale={{ emptyText: t('reports.empty') }}
            />
          </Space>
        );
      }}
    </ReportQuery>
  );
}

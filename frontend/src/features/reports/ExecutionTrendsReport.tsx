/** Tendances d'exécution: executions per hour / day / week by status, success rate and
 * duration percentiles; each count opens the Exécutions list of that period and status. */
import { Card, Col, Row, Space, Table } from 'antd';
import type { TableProps } from 'antd';
import { Link } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { DateTime } from '../../components/DateTime';
import { Legend, STATUS_COLORS, StackedColumns } from '../dashboard/charts';
import { executionsLink, useReport, type ExecutionTrends, type TrendPoint } from './api';
import { count, percent, seconds } from './format';
import { Period, ReportQuery } from './ReportState';
import { reportParams, type ReportState, type SetReportState } from './state';

const STATUSES = ['succeeded', 'failed', 'timed_out', 'cancelled', 'running', 'queued'] as const;

export function ExecutionTrendsReport({ state }: { state: ReportState; setState: SetReportState }) {
  const { t } = useTranslation();
  const query = useReport<ExecutionTrends>('execution-trends', reportParams('execution-trends', state));
  return (
    <ReportQuery query={query}>
      {(data) => {
        const where = { department: data.department ?? undefined, region: data.region ?? undefined };
        const totals = data.totals ?? {};
        const points = data.points ?? [];
        const pointLink = (point: TrendPoint, status?: string) =>
          executionsLink({ from: point.start ?? undefined, to: point.end ?? undefined, ...where, status });
        const periodLink = (status?: string) =>
          executionsLink({ from: data.from ?? undefined, to: data.to ?? undefined, ...where, status });
        const columns: TableProps<TrendPoint>['columns'] = [
          { title: t('reports.columns.start'), key: 'start', render: (_, p) => <DateTime value={p.start} /> },
          {
            title: t('reports.columns.executions'),
            key: 'total',
            render: (_, p) => (p.total ? <Link to={pointLink(p)}>{count(p.total)}</Link> : count(p.total)),
          },
          ...STATUSES.map((status) => ({
            title: t(`statuses.${status}`),
            key: status,
            render: (_: unknown, p: TrendPoint) => {
              const n = p.by_status?.[status] ?? 0;
              return n ? <Link to={pointLink(p, status)}>{count(n)}</Link> : count(n);
            },
          })),
          { title: t('reports.columns.success_rate'), key: 'rate', render: (_, p) => percent(p.success_rate) },
          { title: 'p50', key: 'p50', render: (_, p) => seconds(p.duration_p50_s, t) },
          { title: 'p90', key: 'p90', render: (_, p) => seconds(p.duration_p90_s, t) },
          { title: 'p95', key: 'p95', render: (_, p) => seconds(p.duration_p95_s, t) },
          { title: 'p99', key: 'p99', render: (_, p) => seconds(p.duration_p99_s, t) },
          { title: t('reports.columns.rows_scored'), key: 'rows', render: (_, p) => count(p.rows) },
          { title: t('reports.columns.compute'), key: 'compute', render: (_, p) => seconds(p.compute_s, t) },
        ];
        const figures = [
          { key: 'total', label: t('reports.columns.executions'), value: <Link to={periodLink()} data-testid="trends-total">{count(totals.total)}</Link> },
          { key: 'succeeded', label: t('statuses.succeeded'), value: <Link to={periodLink('succeeded')} data-testid="trends-succeeded">{count(totals.by_status?.succeeded)}</Link> },
          { key: 'failed', label: t('statuses.failed'), value: <Link to={periodLink('failed')} data-testid="trends-failed">{count(totals.by_status?.failed)}</Link> },
          { key: 'rate', label: t('reports.columns.success_rate'), value: <span data-testid="trends-rate">{percent(totals.success_rate)}</span> },
          { key: 'p50', label: t('reports.median'), value: seconds(totals.duration_p50_s, t) },
          { key: 'p95', label: 'p95', value: seconds(totals.duration_p95_s, t) },
          { key: 'rows', label: t('reports.columns.rows_scored'), value: count(totals.rows) },
        ];
        return (
          <Space direction="vertical" style={{ width: '100%' }} size={16}>
            <Period from={data.from} to={data.to} />
            <Row gutter={[12, 12]} data-testid="trends-totals">
              {figures.map((figure) => (
                <Col key={figure.key} flex="1 1 160px">
                  <Card size="small" title={figure.label}>
                    <span style={{ fontSize: 20 }}>{figure.value}</span>
                  </Card>
                </Col>
              ))}
            </Row>
            <Card size="small" title={t('reports.trend_chart')}>
              <StackedColumns
                label={t('reports.trend_chart_alt', { count: points.length, total: totals.total ?? 0 })}
                columns={points.map((p) => ({
                  key: p.start ?? '',
                  label: p.start ?? '',
                  parts: STATUSES.map((status) => ({
                    key: status,
                    label: t(`statuses.${status}`),
                    value: p.by_status?.[status] ?? 0,
                    color: STATUS_COLORS[status],
                  })),
                }))}
              />
              <Legend items={STATUSES.map((status) => ({ key: status, label: t(`statuses.${status}`), color: STATUS_COLORS[status] }))} />
            </Card>
            <Table<TrendPoint>
              rowKey={(p) => p.start ?? ''}
              data-testid="report-table"
              size="small"
              scroll={{ x: true }}
              columns={columns}
              dataSource={[...points].reverse()}
              pagination={{ defaultPageSize: 10, showSizeChanger: true, pageSizeOptions: [10, 24, 50, 100] }}
              locale={{ emptyText: t('reports.empty') }}
            />
          </Space>
        );
      }}
    </ReportQuery>
  );
}

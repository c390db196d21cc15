/** Guide 3.2: counts of models, deployments and executions (the last 24 hours by status),
 * models by type and by department, recent activity; refreshes itself. Every figure links
 * to the list where it can be checked. */
import type { ReactNode } from 'react';
import { Card, Col, Flex, List, Row, Space, Typography } from 'antd';
import { Link } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { DateTime } from '../../components/DateTime';
import { QueryState } from '../../components/QueryState';
import { buildQuery } from '../../api/client';
import { useCan } from '../../auth/AuthContext';
import { hasFeature } from '../registry';
import { useDashboard, type Activity, type Dashboard } from './api';
import { BarList, STATUS_COLORS } from './charts';

export const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;

const PATHS: Record<string, string> = { model: '/models', deployment: '/deployments', execution: '/executions' };

/** A figure that opens the list it counts (when the user may open that list). */
function Figure({ value, to, label, big }: { value: number; to?: string; label: string; big?: boolean }) {
  const style = { fontSize: big ? 30 : undefined, fontVariantNumeric: 'tabular-nums' as const };
  const text = <span style={style}>{value.toLocaleString('fr-FR')}</span>;
  return to ? (
    <Link to={to} aria-label={`${label} : ${value}`}>
      {text}
    </Link>
  ) : (
    <span aria-label={`${label} : ${value}`}>{text}</span>
  );
}

function StatCard({ title, testId, children }: { title: string; testId: string; children: ReactNode }) {
  return (
    <Card title={title} data-testid={testId} style={{ height: '100%' }}>
      {children}
    </Card>
  );
}

function ActivityItem({ entry }: { entry: Activity }) {
  const { t } = useTranslation();
  const type = entry.object_type ?? 'model';
  const target = entry.label || entry.object_id;
  const path = PATHS[type];
  const linkable = entry.action !== 'deleted' && path && entry.object_id && hasFeature(`${type}s` as 'models');
  return (
    <List.Item>
      <Space wrap size={8}>
        <DateTime value={entry.at} />
        <Typography.Text strong>{entry.who ?? t('dashboard.system')}</Typography.Text>
        <span>
          {t(`dashboard.actions.${entry.action}`, { defaultValue: entry.action })} ·{' '}
          {t(`dashboard.objects.${type}`, { defaultValue: type })}
        </span>
        {linkable ? <Link to={`${path}/${encodeURIComponent(entry.object_id!)}`}>{target}</Link> : <span>{target}</span>}
      </Space>
    </List.Item>
  );
}

function DashboardView({ data }: { data: Dashboard }) {
  const { t } = useTranslation();
  const can = useCan();
  const counts = data.counts ?? {};
  const deployments = data.deployments ?? {};
  const executions = data.executions ?? {};
  const last = executions.last_24h ?? {};
  const canModels = can('models:read') && hasFeature('models');
  const canDeployments = can('deployments:read') && hasFeature('deployments');
  const canExecutions = can('executions:read') && hasFeature('executions');
  const executionsLink = (query: Record<string, string | undefined>) =>
    canExecutions ? `/executions${buildQuery(query)}` : undefined;
  const byType = Object.entries(data.models_by_type ?? {}).map(([key, value]) => ({
    key,
    label: t(`models.types.${key}`, { defaultValue: key }),
    value,
  }));
  const byDepartment = Object.entries(data.models_by_department ?? {}).map(([key, value]) => ({
    key,
    label: key,
    value,
    link: canModels ? (
      <Figure value={value} to={`/models${buildQuery({ department: key })}`} label={`${t('menu.models')} ${key}`} />
    ) : undefined,
  }));
  return (
    <Space direction="vertical" size={16} style={{ width: '100%' }}>
      <Row gutter={[16, 16]}>
        <Col xs={24} md={12} xl={6}>
          <StatCard title={t('dashboard.models')} testId="stat-models">
            <Figure big value={counts.models ?? 0} to={canModels ? '/models' : undefined} label={t('dashboard.models')} />
          </StatCard>
        </Col>
        <Col xs={24} md={12} xl={6}>
          <StatCard title={t('dashboard.deployments')} testId="stat-deployments">
            <Figure big value={counts.deployments ?? 0} to={canDeployments ? '/deployments' : undefined} label={t('dashboard.deployments')} />
            <div data-testid="stat-deployments-split">
              {t('statuses.active')} :{' '}
              <Figure value={deployments.active ?? 0} to={canDeployments ? '/deployments?status=active' : undefined} label={t('statuses.active')} />
              {' · '}
              {t('statuses.inactive')} :{' '}
              <Figure value={deployments.inactive ?? 0} to={canDeployments ? '/deployments?status=inactive' : undefined} label={t('statuses.inactive')} />
            </div>
          </StatCard>
        </Col>
        <Col xs={24} md={12} xl={6}>
          <StatCard title={t('dashboard.executions')} testId="stat-executions">
            <Figure big value={counts.executions ?? 0} to={executionsLink({})} label={t('dashboard.executions')} />
          </StatCard>
        </Col>
        <Col xs={24} md={12} xl={6}>
          <StatCard title={t('dashboard.last_24h_title')} testId="stat-last-24h">
            <Figure big value={last.total ?? 0} to={executionsLink({ from: last.since ?? undefined })} label={t('dashboard.last_24h')} />
            <ul style={{ listStyle: 'none', padding: 0, margin: '8px 0 0' }} aria-label={t('dashboard.last_24h_by_status')}>
              {STATUSES.filter((status) => (last.by_status?.[status] ?? 0) > 0).map((status) => (
                <li key={status} data-status={status}>
                  <span aria-hidden="true" style={{ display: 'inline-block', width: 10, height: 10, marginRight: 6, background: STATUS_COLORS[status], borderRadius: 2 }} />
                  {t(`statuses.${status}`)} :{' '}
                  <Figure
                    value={last.by_status?.[status] ?? 0}
                    to={executionsLink({ from: last.since ?? undefined, status })}
                    label={`${t('dashboard.last_24h')} ${t(`statuses.${status}`)}`}
                  />
                </li>
              ))}
            </ul>
          </StatCard>
        </Col>
      </Row>
      <Row gutter={[16, 16]}>
        <Col xs={24} lg={12}>
          <Card title={t('dashboard.by_type')}>
            <BarList bars={byType} title={t('dashboard.by_type')} empty={t('dashboard.no_models')} testId="chart-by-type" />
          </Card>
        </Col>
        <Col xs={24} lg={12}>
          <Card title={t('dashboard.by_department')}>
            <BarList bars={byDepartment} title={t('dashboard.by_department')} empty={t('dashboard.no_models')} testId="chart-by-department" />
          </Card>
        </Col>
      </Row>
      <Card title={t('dashboard.recent')} data-testid="recent-activity">
        <List
          size="small"
          dataSource={data.recent_activity ?? []}
          locale={{ emptyText: t('dashboard.no_activity') }}
          renderItem={(entry) => <ActivityItem entry={entry} />}
        />
      </Card>
    </Space>
  );
}

export default function DashboardPage() {
  const { t } = useTranslation();
  const query = useDashboard();
  return (
    <div>
      <Flex justify="space-between" align="center" wrap style={{ marginBottom: 16 }}>
        <Typography.Title level={2} style={{ margin: 0 }}>
          {t('dashboard.title')}
        </Typography.Title>
        {query.data?.generated_at && (
          <Typography.Text type="secondary" data-testid="dashboard-updated">
            {t('dashboard.updated')} <DateTime value={query.data.generated_at} />
          </Typography.Text>
        )}
      </Flex>
      <QueryState query={query}>{(data) => <DashboardView data={data} />}</QueryState>
    </div>
  );
}

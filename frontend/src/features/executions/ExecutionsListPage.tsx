/** Guide 6.1: every execution, filtered by déploiement, modèle and statut (in the URL);
 * status, start date and duration; refreshes itself while some are queued or running.
 * A figure of a report or of the dashboard opens this list with its period (`from`
 * inclusive, `to` exclusive, on created_at) and its département / région: they are
 * shown as removable tags and sent to GET /executions, so the total is the figure. */
import { useState } from 'react';
import { Flex, Select, Space, Table, Tag, Typography } from 'antd';
import type { TableProps } from 'antd';
import { Link } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { apiFetch } from '../../api/client';
import { deploymentKeys, modelKeys } from '../../api/keys';
import type { DeploymentPage, Execution, ModelPage } from '../../api/types';
import { DateTime, formatLocal } from '../../components/DateTime';
import { ErrorState } from '../../components/QueryState';
import { StatusBadge } from '../../components/StatusBadge';
import { useDebounced } from '../../components/useDebounced';
import { useUrlState } from '../../components/useUrlState';
import { hasFeature } from '../registry';
import { useExecutions } from './api';
import { formatDuration } from './format';

export const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out'];
const TRIGGERS = ['manual', 'schedule', 'rerun', 'api'];

const DEFAULTS = {
  deployment_id: undefined as string | undefined,
  model_id: undefined as string | undefined,
  status: undefined as string | undefined,
  trigger: undefined as string | undefined,
  from: undefined as string | undefined,
  to: undefined as string | undefined,
  department: undefined as string | undefined,
  region: undefined as string | undefined,
  sort: '-created_at',
  page: 1,
  per_page: 20,
};

/** A searchable select over one resource (models or deployments), by name. */
function useOptions(kind: 'models' | 'deployments', search: string, selected?: string) {
  const keys = kind === 'models' ? modelKeys : deploymentKeys;
  const params = { q: search || undefined, per_page: 20, sort: kind === 'models' ? 'name' : '-created_at' };
  const list = useQuery({
    queryKey: keys.list(params),
    queryFn: ({ signal }) => apiFetch<ModelPage | DeploymentPage>(`/${kind}`, { query: params, signal }),
  });
  // The selected one may not be in the first page: fetch it by id to show its name.
  const one = useQuery({
    queryKey: keys.detail(selected ?? ''),
    queryFn: ({ signal }) => apiFetch<{ id: string; name: string; version?: string }>(`/${kind}/${encodeURIComponent(selected ?? '')}`, { signal }),
    enabled: Boolean(selected),
    retry: false,
  });
  const items: { id: string; name: string; version?: string | null }[] = [...(list.data?.items ?? [])];
  if (one.data && !items.some((item) => item.id === one.data.id)) items.unshift(one.data);
  return {
    loading: list.isFetching,
    options: items.map((item) => ({ value: item.id, label: item.version ? `${item.name} ${item.version}` : item.name })),
  };
}

type Scope = 'from' | 'to' | 'department' | 'region';

/** The period and scope a link brought (a report's figure): one removable tag each. */
function ScopeTags({ values, onRemove }: { values: Record<Scope, string | undefined>; onRemove: (key: Scope) => void }) {
  const { t } = useTranslation();
  const shown = (Object.keys(values) as Scope[]).filter((key) => values[key]);
  if (!shown.length) return null;
  const text = (key: Scope, value: string) =>
    t(`executions.scope.${key}`, { value: key === 'from' || key === 'to' ? formatLocal(value) : value });
  return (
    <Space wrap style={{ marginBottom: 16 }} aria-label={t('executions.scope.label')} data-testid="executions-scope">
      {shown.map((key) => (
        <Tag key={key} closable data-scope={key} onClose={() => onRemove(key)}>
          {text(key, values[key]!)}
        </Tag>
      ))}
    </Space>
  );
}

export default function ExecutionsListPage() {
  const { t } = useTranslation();
  const [state, setState] = useUrlState(DEFAULTS);
  const [modelSearch, setModelSearch] = useState('');
  const [deploymentSearch, setDeploymentSearch] = useState('');
  const models = useOptions('models', useDebounced(modelSearch, 250), state.model_id);
  const deployments = useOptions('deployments', useDebounced(deploymentSearch, 250), state.deployment_id);
  const query = useExecutions({
    deployment_id: state.deployment_id,
    model_id: state.model_id,
    status: state.status,
    trigger: state.trigger,
    from: state.from,
    to: state.to,
    department: state.department,
    region: state.region,
    sort: state.sort,
    page: state.page,
    per_page: state.per_page,
  });

  const sortOrder = (field: string) =>
    state.sort === field ? 'ascend' : state.sort === `-${field}` ? 'descend' : null;

  const columns: TableProps<Execution>['columns'] = [
    {
      title: t('common.id'),
      dataIndex: 'id',
      key: 'id',
      render: (id: string) => (
        <Link to={`/executions/${id}`}>
          <Typography.Text code>{id}</Typography.Text>
        </Link>
      ),
    },
    {
      title: t('executions.fields.model'),
      key: 'model',
      render: (_, execution) =>
        execution.model_id ? (
          <Link to={`/models/${execution.model_id}`}>
            {[execution.model_name, execution.model_version].filter(Boolean).join(' ') || execution.model_id}
          </Link>
        ) : (
          t('common.none')
        ),
    },
    {
      title: t('executions.fields.deployment'),
      key: 'deployment',
      render: (_, execution) =>
        execution.deployment_id ? (
          hasFeature('deployments') ? (
            <Link to={`/deployments/${execution.deployment_id}`}>
              <Typography.Text code>{execution.deployment_id}</Typography.Text>
            </Link>
          ) : (
            <Typography.Text code>{execution.deployment_id}</Typography.Text>
          )
        ) : (
          t('common.none')
        ),
    },
    {
      title: t('common.status'),
      dataIndex: 'status',
      key: 'status',
      sorter: true,
      sortOrder: sortOrder('status'),
      render: (status: string) => <StatusBadge status={status} />,
    },
    {
      title: t('executions.trigger'),
      dataIndex: 'trigger',
      key: 'trigger',
      render: (value: string) => t(`executions.triggers.${value}`, { defaultValue: value }),
    },
    {
      title: t('executions.started_at'),
      dataIndex: 'started_at',
      key: 'started_at',
      sorter: true,
      sortOrder: sortOrder('started_at'),
      render: (value: string | null) => <DateTime value={value} />,
    },
    {
      title: t('executions.duration'),
      dataIndex: 'duration_s',
      key: 'duration_s',
      sorter: true,
      sortOrder: sortOrder('duration_s'),
      render: (value: number | null) => formatDuration(value, t),
    },
    { title: t('executions.fields.created_by'), dataIndex: 'created_by', key: 'created_by' },
  ];

  return (
    <div>
      <Flex justify="space-between" align="center" style={{ marginBottom: 16 }}>
        <Typography.Title level={2} style={{ margin: 0 }}>
          {t('executions.title')}
        </Typography.Title>
      </Flex>
      <Space wrap style={{ marginBottom: 16 }} role="search">
        <Select
          showSearch
          allowClear
          filterOption={false}
          style={{ width: 260 }}
          placeholder={t('executions.fields.deployment')}
          aria-label={t('executions.fields.deployment')}
          value={state.deployment_id}
          options={deployments.options}
          loading={deployments.loading}
          onSearch={setDeploymentSearch}
          onChange={(value) => setState({ deployment_id: value, page: 1 })}
        />
        <Select
          showSearch
          allowClear
          filterOption={false}
          style={{ width: 260 }}
          placeholder={t('executions.fields.model')}
          aria-label={t('executions.fields.model')}
          value={state.model_id}
          options={models.options}
          loading={models.loading}
          onSearch={setModelSearch}
          onChange={(value) => setState({ model_id: value, page: 1 })}
        />
        <Select
          allowClear
          showSearch
          optionFilterProp="label"
          style={{ width: 180 }}
          placeholder={t('common.status')}
          aria-label={t('common.status')}
          value={state.status}
          options={STATUSES.map((value) => ({ value, label: t(`statuses.${value}`) }))}
          onChange={(value) => setState({ status: value, page: 1 })}
        />
        <Select
          allowClear
          showSearch
          optionFilterProp="label"
          style={{ width: 160 }}
          placeholder={t('executions.trigger')}
          aria-label={t('executions.trigger')}
          value={state.trigger}
          options={TRIGGERS.map((value) => ({ value, label: t(`executions.triggers.${value}`) }))}
          onChange={(value) => setState({ trigger: value, page: 1 })}
        />
      </Space>
      <ScopeTags
        values={{ from: state.from, to: state.to, department: state.department, region: state.region }}
        onRemove={(key) => setState({ [key]: undefined, page: 1 })}
      />
      {query.error ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <Table<Execution>
          rowKey="id"
          data-testid="executions-table"
          columns={columns}
          dataSource={query.data?.items}
          loading={query.isPending}
          locale={{ emptyText: t('executions.empty') }}
          onChange={(pagination, _filters, sorter) => {
            const one = Array.isArray(sorter) ? sorter[0] : sorter;
            const field = one?.order ? String(one.field) : undefined;
            const sort = field ? (one.order === 'descend' ? `-${field}` : field) : DEFAULTS.sort;
            setState({
              sort,
              page: sort !== state.sort ? 1 : pagination.current ?? 1,
              per_page: pagination.pageSize ?? DEFAULTS.per_page,
            });
          }}
          pagination={{
            current: state.page,
            pageSize: state.per_page,
            total: query.data?.total ?? 0,
            showSizeChanger: true,
            pageSizeOptions: [10, 20, 50, 100],
            showTotal: (total) => t('executions.total', { count: total }),
          }}
        />
      )}
    </div>
  );
}

/** Guide 5.1: the deployments, searched, filtered, sorted and paged on the server; all in the URL. */
import { useEffect, useState } from 'react';
import { Button, Flex, Input, Select, Space, Tooltip, Typography } from 'antd';
import { EyeOutlined, PlusOutlined } from '@ant-design/icons';
import { Link, useNavigate } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import type { Deployment } from '../../api/types';
import { useCan } from '../../auth/AuthContext';
import { DataTable, type Column } from '../../components/DataTable';
import { DateTime } from '../../components/DateTime';
import { ErrorState } from '../../components/QueryState';
import { StatusBadge } from '../../components/StatusBadge';
import { useDebounced } from '../../components/useDebounced';
import { useUrlState } from '../../components/useUrlState';
import { useDepartmentRegionFacets, useDeployments } from './api';
import { DEPLOYMENT_STATUSES } from './constants';
import { CronText } from './CronText';
import { ModelSelect } from './ModelSelect';
import { StartStopButton } from './StartStopButton';

const DEFAULTS = {
  q: undefined as string | undefined,
  department: undefined as string | undefined,
  region: undefined as string | undefined,
  status: undefined as string | undefined,
  model_id: undefined as string | undefined,
  sort: '-created_at',
  page: 1,
  per_page: 20,
};

export default function DeploymentsListPage() {
  const { t } = useTranslation();
  const can = useCan();
  const navigate = useNavigate();
  const [state, setState] = useUrlState(DEFAULTS);
  const [search, setSearch] = useState(state.q ?? '');
  const debounced = useDebounced(search, 250);
  const facets = useDepartmentRegionFacets();

  // Each keystroke, once the typing pauses, becomes the `q` of the URL (and of the query).
  useEffect(() => {
    if ((debounced || undefined) !== state.q) setState({ q: debounced || undefined, page: 1 });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debounced]);

  const query = useDeployments({
    q: state.q,
    department: state.department,
    region: state.region,
    status: state.status,
    model_id: state.model_id,
    sort: state.sort,
    page: state.page,
    per_page: state.per_page,
  });

  const none = t('common.none');
  const columns: Column<Deployment>[] = [
    {
      key: 'name',
      title: t('deployments.fields.name'),
      sortField: 'name',
      render: (deployment) => <Link to={`/deployments/${deployment.id}`}>{deployment.name}</Link>,
    },
    {
      key: 'model',
      title: t('deployments.fields.model'),
      render: (deployment) =>
        deployment.model_deleted ? (
          <Typography.Text type="secondary">{t('deployments.model_deleted_short')}</Typography.Text>
        ) : (
          <Link to={`/models/${deployment.model_id}`}>
            {`${deployment.model?.name ?? deployment.model_id} ${deployment.model?.version ?? ''}`.trim()}
          </Link>
        ),
    },
    { key: 'department', title: t('deployments.fields.department'), sortField: 'department', render: (d) => d.department || none },
    { key: 'region', title: t('deployments.fields.region'), sortField: 'region', render: (d) => d.region || none },
    { key: 'status', title: t('deployments.fields.status'), sortField: 'status', render: (d) => <StatusBadge status={d.status} /> },
    { key: 'schedule', title: t('deployments.fields.schedule'), render: (d) => <CronText expression={d.schedule} inline /> },
    {
      key: 'next_run_at',
      title: t('deployments.fields.next_run_at'),
      sortField: 'next_run_at',
      render: (d) => <DateTime value={d.next_run_at} timeZone={d.timezone ?? undefined} />,
    },
    {
      key: 'actions',
      title: t('common.actions'),
      render: (deployment) => (
        <Space size="small">
          <Tooltip title={t('common.view')}>
            <Button
              type="text"
              icon={<EyeOutlined />}
              aria-label={`${t('common.view')} ${deployment.name}`}
              onClick={() => navigate(`/deployments/${deployment.id}`)}
            />
          </Tooltip>
          {can('deployments:write') && <StartStopButton deployment={deployment} compact />}
        </Space>
      ),
    },
  ];

  const facetOptions = (values: string[] | undefined) => (values ?? []).map((value) => ({ value, label: value }));

  return (
    <div>
      <Flex justify="space-between" align="center" style={{ marginBottom: 16 }}>
        <Typography.Title level={2} style={{ margin: 0 }}>
          {t('deployments.title')}
        </Typography.Title>
        {can('deployments:write') && (
          <Button type="primary" icon={<PlusOutlined />} onClick={() => navigate('/deployments/new')}>
            {t('deployments.add')}
          </Button>
        )}
      </Flex>
      <Space wrap style={{ marginBottom: 16 }} role="search">
        <Input.Search
          allowClear
          style={{ width: 280 }}
          placeholder={t('deployments.search_placeholder')}
          aria-label={t('deployments.search_placeholder')}
          value={search}
          onChange={(event) => setSearch(event.target.value)}
          onSearch={(value) => setSearch(value)}
        />
        <Select
          allowClear
          style={{ width: 180 }}
          placeholder={t('deployments.fields.department')}
          aria-label={t('deployments.fields.department')}
          value={state.department}
          options={facetOptions(facets.data?.department)}
          loading={facets.isPending}
          onChange={(value) => setState({ department: value, page: 1 })}
        />
        <Select
          allowClear
          style={{ width: 180 }}
          placeholder={t('deployments.fields.region')}
          aria-label={t('deployments.fields.region')}
          value={state.region}
          options={facetOptions(facets.data?.region)}
          loading={facets.isPending}
          onChange={(value) => setState({ region: value, page: 1 })}
        />
        <Select
          allowClear
          style={{ width: 150 }}
          placeholder={t('deployments.fields.status')}
          aria-label={t('deployments.fields.status')}
          value={state.status}
          options={DEPLOYMENT_STATUSES.map((value) => ({ value, label: t(`statuses.${value}`) }))}
          onChange={(value) => setState({ status: value, page: 1 })}
        />
        <ModelSelect
          allowClear
          style={{ width: 240 }}
          placeholder={t('deployments.fields.model')}
          aria-label={t('deployments.fields.model')}
          value={state.model_id}
          onChange={(value) => setState({ model_id: value, page: 1 })}
        />
      </Space>
      {query.error ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <DataTable<Deployment>
          testId="deployments-table"
          columns={columns}
          rows={query.data?.items}
          rowKey={(deployment) => deployment.id}
          loading={query.isFetching}
          empty={t('deployments.empty')}
          sort={state.sort === DEFAULTS.sort ? undefined : state.sort}
          onSort={(sort) => setState({ sort: sort ?? DEFAULTS.sort, page: 1 })}
          page={state.page}
          perPage={state.per_page}
          total={query.data?.total ?? 0}
          onPage={(page, perPage) => setState({ page, per_page: perPage })}
          totalText={(total) => t('deployments.total', { count: total })}
        />
      )}
    </div>
  );
}

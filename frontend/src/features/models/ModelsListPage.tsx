/** Guide 4.1: the models, searched, filtered, sorted and paged on the server; all in the URL. */
import { useEffect, useState } from 'react';
import { Button, Flex, Input, Select, Space, Tooltip } from 'antd';
import { DeleteOutlined, EditOutlined, EyeOutlined, PlusOutlined } from '@ant-design/icons';
import { Link, useNavigate } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import type { Model } from '../../api/types';
import { useCan } from '../../auth/AuthContext';
import { DataTable, type Column } from '../../components/DataTable';
import { DateTime } from '../../components/DateTime';
import { ErrorState } from '../../components/QueryState';
import { useDebounced } from '../../components/useDebounced';
import { useUrlState } from '../../components/useUrlState';
import { useModelFacets, useModels } from './api';
import { DeleteModelButton } from './DeleteModelButton';
import { ModelStatusTag } from './ModelStatusTag';

const DEFAULTS = {
  q: undefined as string | undefined,
  department: undefined as string | undefined,
  region: undefined as string | undefined,
  status: undefined as string | undefined,
  sort: '-created_at',
  page: 1,
  per_page: 20,
};

export default function ModelsListPage() {
  const { t } = useTranslation();
  const can = useCan();
  const navigate = useNavigate();
  const [state, setState] = useUrlState(DEFAULTS);
  const [search, setSearch] = useState(state.q ?? '');
  const debounced = useDebounced(search, 250);
  const facets = useModelFacets();

  // Each keystroke, once the typing pauses, becomes the `q` of the URL (and of the query).
  useEffect(() => {
    if ((debounced || undefined) !== state.q) setState({ q: debounced || undefined, page: 1 });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debounced]);

  const query = useModels({
    q: state.q,
    department: state.department,
    region: state.region,
    status: state.status,
    sort: state.sort,
    page: state.page,
    per_page: state.per_page,
  });

  const columns: Column<Model>[] = [
    {
      key: 'name',
      title: t('models.fields.name'),
      sortField: 'name',
      render: (model) => <Link to={`/models/${model.id}`}>{model.name}</Link>,
    },
    { key: 'version', title: t('models.fields.version'), render: (model) => model.version },
    {
      key: 'type',
      title: t('models.fields.type'),
      render: (model) => t(`models.types.${model.type}`, { defaultValue: model.type }),
    },
    { key: 'department', title: t('models.fields.department'), sortField: 'department', render: (model) => model.department },
    { key: 'region', title: t('models.fields.region'), sortField: 'region', render: (model) => model.region },
    { key: 'status', title: t('models.fields.status'), render: (model) => <ModelStatusTag status={model.status} /> },
    {
      key: 'updated_at',
      title: t('models.fields.updated_at'),
      sortField: 'updated_at',
      render: (model) => <DateTime value={model.updated_at} />,
    },
    {
      key: 'actions',
      title: t('common.actions'),
      render: (model) => (
        <Space size="small">
          <Tooltip title={t('common.view')}>
            <Button
              type="text"
              icon={<EyeOutlined />}
              aria-label={`${t('common.view')} ${model.name}`}
              onClick={() => navigate(`/models/${model.id}`)}
            />
          </Tooltip>
          {can('models:write') && (
            <Tooltip title={t('common.edit')}>
              <Button
                type="text"
                icon={<EditOutlined />}
                aria-label={`${t('common.edit')} ${model.name}`}
                onClick={() => navigate(`/models/${model.id}/edit`)}
              />
            </Tooltip>
          )}
          {can('models:write') && <DeleteModelButton model={model} compact icon={<DeleteOutlined />} />}
        </Space>
      ),
    },
  ];

  const facetOptions = (values: string[] | undefined, label?: (value: string) => string) =>
    (values ?? []).map((value) => ({ value, label: label ? label(value) : value }));

  return (
    <div>
      <Flex justify="space-between" align="center" style={{ marginBottom: 16 }}>
        <h2 style={{ margin: 0, fontSize: 28, fontWeight: 600 }}>{t('models.title')}</h2>
        {can('models:write') && (
          <Button type="primary" icon={<PlusOutlined />} onClick={() => navigate('/models/new')}>
            {t('models.add')}
          </Button>
        )}
      </Flex>
      <Space wrap style={{ marginBottom: 16 }} role="search">
        <Input.Search
          allowClear
          style={{ width: 320 }}
          placeholder={t('models.search_placeholder')}
          aria-label={t('models.search_placeholder')}
          value={search}
          onChange={(event) => setSearch(event.target.value)}
          onSearch={(value) => setSearch(value)}
        />
        <Select
          allowClear
          showSearch
          optionFilterProp="label"
          style={{ width: 200 }}
          placeholder={t('models.fields.department')}
          aria-label={t('models.fields.department')}
          value={state.department}
          options={facetOptions(facets.data?.department)}
          loading={facets.isPending}
          onChange={(value) => setState({ department: value, page: 1 })}
        />
        <Select
          allowClear
          showSearch
          optionFilterProp="label"
          style={{ width: 200 }}
          placeholder={t('models.fields.region')}
          aria-label={t('models.fields.region')}
          value={state.region}
          options={facetOptions(facets.data?.region)}
          loading={facets.isPending}
          onChange={(value) => setState({ region: value, page: 1 })}
        />
        <Select
          allowClear
          showSearch
          optionFilterProp="label"
          style={{ width: 160 }}
          placeholder={t('models.fields.status')}
          aria-label={t('models.fields.status')}
          value={state.status}
          options={facetOptions(facets.data?.status, (value) => t(`models.statuses.${value}`, { defaultValue: value }))}
          loading={facets.isPending}
          onChange={(value) => setState({ status: value, page: 1 })}
        />
      </Space>
      {query.error ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <DataTable<Model>
          testId="models-table"
          columns={columns}
          rows={query.data?.items}
          rowKey={(model) => model.id}
          loading={query.isFetching}
          empty={t('models.empty')}
          sort={state.sort === DEFAULTS.sort ? undefined : state.sort}
          onSort={(sort) => setState({ sort: sort ?? DEFAULTS.sort, page: 1 })}
          page={state.page}
          perPage={state.per_page}
          total={query.data?.total ?? 0}
          onPage={(page, perPage) => setState({ page, per_page: perPage })}
          totalText={(total) => t('models.total', { count: total })}
        />
      )}
    </div>
  );
}

/** Guide 4.1: the models, searched, filtered, sorted and paged on the server; all in the URL. */
import { useEffect, useMemo, useState } from 'react';
import { Button, Flex, Input, Select, Space, Tooltip } from 'antd';
import { DeleteOutlined, EditOutlined, EyeOutlined, PlusOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import type { Model } from '../../api/types';
import { useCan } from '../../auth/AuthContext';
import { DataTable, type Column } from '../../components/DataTable';
import { DateTime } from '../../components/DateTime';
import { ErrorState } from '../../components/QueryState';
import { useDebounced } from '../../components/useDebounced';
import { useUrlState } from '../../components/useUrlState';
import { modelListQuery, useModelFacets, useModels, type ModelListParams } from './api';
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

type ListState = typeof DEFAULTS;

/** The API's query of a list state (the URL's search, filters, sort and page). */
function listParams(state: ListState): ModelListParams {
  const { q, department, region, status, sort, page, per_page } = state;
  return { q, department, region, status, sort, page, per_page };
}

export default function ModelsListPage() {
  const { t } = useTranslation();
  const can = useCan();
  const navigate = useNavigate();
  const [state, setState] = useUrlState(DEFAULTS);
  const [search, setSearch] = useState(state.q ?? '');
  const debounced = useDebounced(search, 250);
  const facets = useModelFacets();
  const client = useQueryClient();

  // A change asks for its page at once, then updates the URL: the request does not
  // wait for the router's navigation and the re-render it starts.
  const change = (patch: Partial<ListState>) => {
    void client.prefetchQuery(modelListQuery(listParams({ ...state, ...patch })));
    setState(patch);
  };

  // Each keystroke, once the typing pauses, becomes the `q` of the URL (and of the query).
  useEffect(() => {
    if ((debounced || undefined) !== state.q) change({ q: debounced || undefined, page: 1 });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debounced]);

  const query = useModels(listParams(state));

  // The same columns from one render to the next: rows whose model did not change
  // are not rendered again (see DataTable).
  const canWrite = can('models:write');
  const columns = useMemo<Column<Model>[]>(() => [
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
          {canWrite && (
            <Tooltip title={t('common.edit')}>
              <Button
                type="text"
                icon={<EditOutlined />}
                aria-label={`${t('common.edit')} ${model.name}`}
                onClick={() => navigate(`/models/${model.id}/edit`)}
              />
            </Tooltip>
          )}
          {canWrite && <DeleteModelButton model={model} compact icon={<DeleteOutlined />} />}
        </Space>
      ),
    },
  ], [t, canWrite, navigate]);

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
          onChange={(value) => change({ department: value, page: 1 })}
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
          onChange={(value) => change({ region: value, page: 1 })}
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
          onChange={(value) => change({ status: value, page: 1 })}
        />
      </Space>
      {query.error ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <DataTable<Model>
          testId="models-table"
          columns={columns}
          rows={query.data?.items}
          loading={query.isFetching}
          empty={t('models.empty')}
          sort={state.sort === DEFAULTS.sort ? undefined : state.sort}
          onSort={(sort) => change({ sort: sort ?? DEFAULTS.sort, page: 1 })}
          page={state.page}
          perPage={state.per_page}
          total={query.data?.total ?? 0}
          onPage={(page, perPage) => change({ page, per_page: perPage })}
          totalText={(total) => t('models.total', { count: total })}
        />
      )}
    </div>
  );
}

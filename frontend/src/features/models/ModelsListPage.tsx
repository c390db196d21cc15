/** Guide 4.1: the models, searched, filtered, sorted and paged on the server; all in the URL. */
import { useEffect, useState } from 'react';
import { Button, Flex, Input, Select, Space, Table, Tooltip, Typography } from 'antd';
import type { TableProps } from 'antd';
import { DeleteOutlined, EditOutlined, EyeOutlined, PlusOutlined } from '@ant-design/icons';
import { Link, useNavigate } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import type { Model } from '../../api/types';
import { useCan } from '../../auth/AuthContext';
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

  const sortOrder = (field: string) =>
    state.sort === field ? 'ascend' : state.sort === `-${field}` ? 'descend' : null;

  const columns: TableProps<Model>['columns'] = [
    {
      title: t('models.fields.name'),
      dataIndex: 'name',
      key: 'name',
      sorter: true,
      sortOrder: sortOrder('name'),
      render: (_, model) => <Link to={`/models/${model.id}`}>{model.name}</Link>,
    },
    { title: t('models.fields.version'), dataIndex: 'version', key: 'version' },
    {
      title: t('models.fields.type'),
      dataIndex: 'type',
      key: 'type',
      render: (value: string) => t(`models.types.${value}`, { defaultValue: value }),
    },
    { title: t('models.fields.department'), dataIndex: 'department', key: 'department', sorter: true, sortOrder: sortOrder('department') },
    { title: t('models.fields.region'), dataIndex: 'region', key: 'region', sorter: true, sortOrder: sortOrder('region') },
    {
      title: t('models.fields.status'),
      dataIndex: 'status',
      key: 'status',
      render: (value: string) => <ModelStatusTag status={value} />,
    },
    {
      title: t('models.fields.updated_at'),
      dataIndex: 'updated_at',
      key: 'updated_at',
      sorter: true,
      sortOrder: sortOrder('updated_at'),
      render: (value: string) => <DateTime value={value} />,
    },
    {
      title: t('common.actions'),
      key: 'actions',
      render: (_, model) => (
        <Space size="small">
          <Tooltip title={t('common.view')}>
            <Link to={`/models/${model.id}`} aria-label={`${t('common.view')} ${model.name}`}>
              <Button type="text" icon={<EyeOutlined />} tabIndex={-1} />
            </Link>
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
          {can('models:write') && (
            <DeleteModelButton model={model} compact icon={<DeleteOutlined />} />
          )}
        </Space>
      ),
    },
  ];

  const facetOptions = (values: string[] | undefined, label?: (value: string) => string) =>
    (values ?? []).map((value) => ({ value, label: label ? label(value) : value }));

  return (
    <div>
      <Flex justify="space-between" align="center" style={{ marginBottom: 16 }}>
        <Typography.Title level={2} style={{ margin: 0 }}>
          {t('models.title')}
        </Typography.Title>
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
        <Table<Model>
          rowKey="id"
          data-testid="models-table"
          columns={columns}
          dataSource={query.data?.items}
          loading={query.isFetching}
          locale={{ emptyText: t('models.empty') }}
          onChange={(pagination, _filters, sorter) => {
            const one = Array.isArray(sorter) ? sorter[0] : sorter;
            const field = one?.order ? String(one.field) : undefined;
            const sort = field ? (one.order === 'descend' ? `-${field}` : field) : DEFAULTS.sort;
            const sortChanged = sort !== state.sort;
            setState({
              sort,
              page: sortChanged ? 1 : pagination.current ?? 1,
              per_page: pagination.pageSize ?? DEFAULTS.per_page,
            });
          }}
          pagination={{
            current: state.page,
            pageSize: state.per_page,
            total: query.data?.total ?? 0,
            showSizeChanger: true,
            pageSizeOptions: [10, 20, 50, 100],
            showTotal: (total) => t('models.total', { count: total }),
          }}
        />
      )}
    </div>
  );
}

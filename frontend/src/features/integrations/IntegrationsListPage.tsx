/** « Intégrations » (guide 3.1, 8.2): every outgoing webhook, its events and state, and
 * the admin's actions on it (create, edit, (de)activate, delete). */
import { Button, Flex, Space, Tag, Tooltip, Typography } from 'antd';
import { DeleteOutlined, EditOutlined, PlusOutlined } from '@ant-design/icons';
import { Link, useNavigate } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { DataTable, type Column } from '../../components/DataTable';
import { DateTime } from '../../components/DateTime';
import { ErrorState } from '../../components/QueryState';
import { useUrlState } from '../../components/useUrlState';
import { useIntegrations, type Integration } from './api';
import { useIntegrationActions } from './actions';

const DEFAULTS = { page: 1, per_page: 20 };

export function ActiveTag({ active }: { active: boolean | undefined }) {
  const { t } = useTranslation();
  return active === false ? (
    <Tag color="#595959">{t('integrations.states.inactive')}</Tag>
  ) : (
    <Tag color="#135200">{t('integrations.states.active')}</Tag>
  );
}

export function EventTags({ events }: { events: Integration['events'] }) {
  const { t } = useTranslation();
  return (
    <Space size={4} wrap>
      {(events ?? []).map((event) => (
        <Tag key={event}>{t(`integrations.events.${event}`, { defaultValue: event })}</Tag>
      ))}
    </Space>
  );
}

export default function IntegrationsListPage() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [state, setState] = useUrlState(DEFAULTS);
  const query = useIntegrations({ page: state.page, per_page: state.per_page });
  const actions = useIntegrationActions({ onCreated: (id) => navigate(`/integrations/${id}`) });

  const columns: Column<Integration>[] = [
    { key: 'name', title: t('integrations.fields.name'), render: (row) => <Link to={`/integrations/${row.id}`}>{row.name}</Link> },
    { key: 'url', title: t('integrations.fields.url'), render: (row) => <Typography.Text code>{row.url}</Typography.Text> },
    { key: 'events', title: t('integrations.fields.events'), render: (row) => <EventTags events={row.events} /> },
    { key: 'department', title: t('integrations.fields.department'), render: (row) => row.department || t('integrations.all_departments') },
    { key: 'active', title: t('integrations.fields.state'), render: (row) => <ActiveTag active={row.active} /> },
    { key: 'created_at', title: t('integrations.fields.created_at'), render: (row) => <DateTime value={row.created_at} /> },
    {
      key: 'actions',
      title: t('common.actions'),
      render: (row) => (
        <Space size="small" wrap>
          <Tooltip title={t('common.edit')}>
            <Button type="text" icon={<EditOutlined />} aria-label={`${t('common.edit')} ${row.name}`} onClick={() => actions.edit(row)} />
          </Tooltip>
          <Button size="small" danger={row.active !== false} onClick={() => actions.toggle(row)} aria-label={`${t(row.active !== false ? 'integrations.deactivate' : 'integrations.activate')} ${row.name}`}>
            {t(row.active !== false ? 'integrations.deactivate' : 'integrations.activate')}
          </Button>
          <Tooltip title={t('common.delete')}>
            <Button type="text" danger icon={<DeleteOutlined />} aria-label={`${t('common.delete')} ${row.name}`} onClick={() => actions.confirmDelete(row)} />
          </Tooltip>
        </Space>
      ),
    },
  ];

  return (
    <div>
      {actions.dialogs}
      <Flex justify="space-between" align="center" style={{ marginBottom: 16 }}>
        <Typography.Title level={2} style={{ margin: 0 }}>
          {t('integrations.title')}
        </Typography.Title>
        <Button type="primary" icon={<PlusOutlined />} onClick={actions.create}>
          {t('integrations.add')}
        </Button>
      </Flex>
      <Typography.Paragraph type="secondary">{t('integrations.intro')}</Typography.Paragraph>
      {query.error ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <DataTable<Integration>
          testId="integrations-table"
          columns={columns}
          rows={query.data?.items}
          rowKey={(row) => row.id}
          loading={query.isFetching}
          empty={t('integrations.empty')}
          page={state.page}
          perPage={state.per_page}
          total={query.data?.total ?? 0}
          onPage={(page, perPage) => setState({ page, per_page: perPage })}
          totalText={(total) => t('integrations.total', { count: total })}
        />
      )}
    </div>
  );
}

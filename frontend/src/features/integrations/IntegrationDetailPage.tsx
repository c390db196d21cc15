/** An integration's page: what it sends where, « Tester », and the delivery log (every
 * attempt: date, status code, duration, attempt, error), refreshing by itself. */
import { Alert, Breadcrumb, Button, Card, Descriptions, Flex, Space, Tag, Typography, message as antMessage } from 'antd';
import { SendOutlined } from '@ant-design/icons';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { errorMessage } from '../../api/errors';
import { DataTable, type Column } from '../../components/DataTable';
import { DateTime } from '../../components/DateTime';
import { QueryState } from '../../components/QueryState';
import { useUrlState } from '../../components/useUrlState';
import { useDeliveries, useIntegration, useTestIntegration, type Delivery, type Integration } from './api';
import { useIntegrationActions } from './actions';
import { ActiveTag, EventTags } from './IntegrationsListPage';

const DEFAULTS = { page: 1, per_page: 20 };
const STATUS_COLORS: Record<string, string> = { delivered: '#135200', failed: '#a8071a', pending: '#595959', sending: '#0958d9' };

/** One row per attempt (a delivery not yet tried is one row with its state). */
interface Row {
  key: string;
  delivery: Delivery;
  attempt?: NonNullable<Delivery['attempts']>[number];
}

export function deliveryRows(deliveries: Delivery[]): Row[] {
  return deliveries.flatMap((delivery) => {
    const attempts = [...(delivery.attempts ?? [])].sort((a, b) => (b.attempt ?? 0) - (a.attempt ?? 0));
    if (!attempts.length) return [{ key: delivery.id, delivery }];
    return attempts.map((attempt) => ({ key: `${delivery.id}:${attempt.attempt}`, delivery, attempt }));
  });
}

function DeliveryLog({ integration }: { integration: Integration }) {
  const { t } = useTranslation();
  const [state, setState] = useUrlState(DEFAULTS);
  const query = useDeliveries(integration.id, { page: state.page, per_page: state.per_page });
  const none = t('common.none');
  const columns: Column<Row>[] = [
    { key: 'at', title: t('integrations.deliveries.at'), render: (row) => <DateTime value={row.attempt?.at ?? row.delivery.created_at} /> },
    { key: 'event', title: t('integrations.deliveries.event'), render: (row) => t(`integrations.events.${row.delivery.event_type}`, { defaultValue: row.delivery.event_type }) },
    {
      key: 'status',
      title: t('common.status'),
      render: (row) => (
        <Tag color={STATUS_COLORS[row.delivery.status ?? ''] ?? '#595959'}>
          {t(`integrations.delivery_states.${row.delivery.status}`, { defaultValue: row.delivery.status })}
        </Tag>
      ),
    },
    { key: 'attempt', title: t('integrations.deliveries.attempt'), render: (row) => row.attempt?.attempt ?? none },
    { key: 'code', title: t('integrations.deliveries.status_code'), render: (row) => row.attempt?.status_code ?? none },
    {
      key: 'duration',
      title: t('integrations.deliveries.duration'),
      render: (row) => (row.attempt?.duration_ms == null ? none : t('integrations.deliveries.ms', { value: Math.round(row.attempt.duration_ms) })),
    },
    { key: 'error', title: t('integrations.deliveries.error'), render: (row) => row.attempt?.error || none },
    {
      key: 'next',
      title: t('integrations.deliveries.next_attempt'),
      render: (row) => (row.delivery.status === 'pending' && row.delivery.next_attempt_at ? <DateTime value={row.delivery.next_attempt_at} /> : none),
    },
  ];
  return (
    <Card title={t('integrations.deliveries.title')}>
      {query.error ? (
        <Alert type="error" showIcon role="alert" message={errorMessage(query.error, t)} />
      ) : (
        <DataTable<Row>
          testId="deliveries-table"
          columns={columns}
          rows={query.data ? deliveryRows(query.data.items) : undefined}
          rowKey={(row) => row.key}
          loading={query.isPending}
          empty={t('integrations.deliveries.empty')}
          page={state.page}
          perPage={state.per_page}
          total={query.data?.total ?? 0}
          onPage={(page, perPage) => setState({ page, per_page: perPage })}
          totalText={(total) => t('integrations.deliveries.total', { count: total })}
        />
      )}
    </Card>
  );
}

export default function IntegrationDetailPage() {
  const { t } = useTranslation();
  const { integrationId = '' } = useParams();
  const navigate = useNavigate();
  const query = useIntegration(integrationId);
  const test = useTestIntegration();
  const [message, messageHolder] = antMessage.useMessage();
  const actions = useIntegrationActions({ onDeleted: () => navigate('/integrations') });

  const sendTest = async () => {
    try {
      await test.mutateAsync(integrationId);
      void message.success(t('integrations.test_sent'));
    } catch (caught) {
      void message.error(errorMessage(caught, t));
    }
  };

  return (
    <div>
      {actions.dialogs}
      {messageHolder}
      <Breadcrumb style={{ marginBottom: 16 }} items={[{ title: <Link to="/integrations">{t('integrations.title')}</Link> }, { title: query.data?.name ?? integrationId }]} />
      <QueryState query={query}>
        {(integration) => (
          <Space direction="vertical" size="large" style={{ width: '100%' }}>
            <Flex justify="space-between" align="center" wrap gap={8}>
              <Typography.Title level={2} style={{ margin: 0 }}>
                {integration.name}
              </Typography.Title>
              <Space wrap>
                <Button type="primary" icon={<SendOutlined />} loading={test.isPending} onClick={() => void sendTest()}>
                  {t('integrations.test')}
                </Button>
                <Button onClick={() => actions.edit(integration)}>{t('common.edit')}</Button>
                <Button danger={integration.active !== false} onClick={() => actions.toggle(integration)}>
                  {t(integration.active !== false ? 'integrations.deactivate' : 'integrations.activate')}
                </Button>
                <Button danger onClick={() => actions.confirmDelete(integration)}>
                  {t('common.delete')}
                </Button>
              </Space>
            </Flex>
            <Card>
              <Descriptions column={1} bordered size="small">
                <Descriptions.Item label={t('integrations.fields.url')}>
                  <Typography.Text code>{integration.url}</Typography.Text>
                </Descriptions.Item>
                <Descriptions.Item label={t('integrations.fields.events')}>
                  <EventTags events={integration.events} />
                </Descriptions.Item>
                <Descriptions.Item label={t('integrations.fields.department')}>{integration.department || t('integrations.all_departments')}</Descriptions.Item>
                <Descriptions.Item label={t('integrations.fields.state')}>
                  <ActiveTag active={integration.active} />
                </Descriptions.Item>
                {integration.description ? <Descriptions.Item label={t('integrations.fields.description')}>{integration.description}</Descriptions.Item> : null}
                <Descriptions.Item label={t('integrations.fields.created_by')}>{integration.created_by ?? t('common.none')}</Descriptions.Item>
                <Descriptions.Item label={t('integrations.fields.created_at')}>
                  <DateTime value={integration.created_at} />
                </Descriptions.Item>
                <Descriptions.Item label={t('integrations.fields.signature')}>{t('integrations.signature_help')}</Descriptions.Item>
              </Descriptions>
            </Card>
            <DeliveryLog integration={integration} />
          </Space>
        )}
      </QueryState>
    </div>
  );
}

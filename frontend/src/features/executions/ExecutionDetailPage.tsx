/** Guide 6.2: informations générales, paramètres, logs, résultats, and the actions
 * Télécharger les résultats, Annuler (queued or running), Relancer. */
import { Alert, Button, Card, Col, Descriptions, Flex, List, message, Modal, Row, Space, Typography } from 'antd';
import { RedoOutlined, StopOutlined } from '@ant-design/icons';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { errorMessage } from '../../api/errors';
import type { Execution } from '../../api/types';
import { useCan } from '../../auth/AuthContext';
import { DateTime } from '../../components/DateTime';
import { KeyValueTable } from '../../components/KeyValueTable';
import { ErrorState, QueryState } from '../../components/QueryState';
import { StatusBadge } from '../../components/StatusBadge';
import { hasFeature } from '../registry';
import { isActive, useCancelExecution, useExecution, useExecutions, useRerunExecution } from './api';
import { formatDuration, formatNumber } from './format';
import { LogViewer } from './LogViewer';
import { ResultsPanel } from './ResultsPanel';

function Reruns({ execution }: { execution: Execution }) {
  const { t } = useTranslation();
  const query = useExecutions({ rerun_of: execution.id, per_page: 50, sort: '-created_at' });
  const items = query.data?.items ?? [];
  if (!items.length) return null;
  return (
    <Card title={t('executions.sections.reruns')} size="small" style={{ marginTop: 16 }}>
      <List
        size="small"
        dataSource={items}
        renderItem={(rerun) => (
          <List.Item>
            <Link to={`/executions/${rerun.id}`}>
              <Typography.Text code>{rerun.id}</Typography.Text>
            </Link>
            <StatusBadge status={rerun.status} />
            <DateTime value={rerun.created_at} />
          </List.Item>
        )}
      />
    </Card>
  );
}

function Actions({ execution }: { execution: Execution }) {
  const { t } = useTranslation();
  const can = useCan();
  const navigate = useNavigate();
  const [modal, modalHolder] = Modal.useModal();
  const [messages, messageHolder] = message.useMessage();
  const cancel = useCancelExecution();
  const rerun = useRerunExecution();
  if (!can('executions:run')) return null;
  return (
    <Space wrap>
      {modalHolder}
      {messageHolder}
      {isActive(execution) && (
        <Button
          danger
          icon={<StopOutlined />}
          loading={cancel.isPending}
          onClick={() =>
            modal.confirm({
              title: t('executions.confirm_cancel.title'),
              content: t('executions.confirm_cancel.content', { id: execution.id }),
              okText: t('executions.actions.cancel'),
              okButtonProps: { danger: true },
              cancelText: t('common.back'),
              onOk: () =>
                cancel
                  .mutateAsync(execution.id)
                  .then(() => void messages.success(t('executions.cancel_requested')))
                  .catch((error) => void messages.error(errorMessage(error, t))),
            })
          }
        >
          {t('executions.actions.cancel')}
        </Button>
      )}
      <Button
        icon={<RedoOutlined />}
        loading={rerun.isPending}
        disabled={isActive(execution)}
        onClick={() =>
          rerun
            .mutateAsync(execution.id)
            .then((created) => navigate(`/executions/${created.id}`))
            .catch((error) => void messages.error(errorMessage(error, t)))
        }
      >
        {t('executions.actions.rerun')}
      </Button>
    </Space>
  );
}

/** Guide 10.3: what the run was given (memory, time limit) and what it used. */
function ResourcesCard({ execution }: { execution: Execution }) {
  const { t, i18n } = useTranslation();
  const none = t('common.none');
  const given = execution.resources;
  const usage = execution.usage;
  const peak = usage?.peak_memory_mb ?? execution.peak_memory_mb;
  const rows = usage?.rows ?? execution.result?.rows;
  const speed = usage?.rows_per_second ?? execution.rows_per_second;
  return (
    <Card title={t('resources.title')} size="small" style={{ marginTop: 16 }}>
      <Descriptions column={1} size="small" data-testid="execution-resources" title={<span style={{ fontSize: 14 }}>{t('resources.allocated')}</span>}>
        <Descriptions.Item label={t('resources.memory_mb')}>{given?.memory_mb != null ? formatNumber(given.memory_mb, i18n.language) : none}</Descriptions.Item>
        <Descriptions.Item label={t('resources.timeout_s')}>{given?.timeout_s != null ? formatNumber(given.timeout_s, i18n.language) : none}</Descriptions.Item>
      </Descriptions>
      <Descriptions column={1} size="small" data-testid="execution-usage" style={{ marginTop: 12 }} title={<span style={{ fontSize: 14 }}>{t('resources.used')}</span>}>
        <Descriptions.Item label={t('resources.peak_memory')}>
          {peak != null ? t('resources.megabytes', { value: formatNumber(peak, i18n.language, 1) }) : none}
        </Descriptions.Item>
        <Descriptions.Item label={t('resources.rows')}>{rows != null ? formatNumber(rows, i18n.language) : none}</Descriptions.Item>
        <Descriptions.Item label={t('resources.rows_per_second')}>{speed != null ? formatNumber(speed, i18n.language, 1) : none}</Descriptions.Item>
        <Descriptions.Item label={t('resources.duration')}>{formatDuration(usage?.duration_s ?? execution.duration_s, t)}</Descriptions.Item>
      </Descriptions>
    </Card>
  );
}

function ExecutionView({ execution }: { execution: Execution }) {
  const { t, i18n } = useTranslation();
  const none = t('common.none');
  const running = isActive(execution);
  const input = execution.input;
  return (
    <div>
      <Flex justify="space-between" align="center" wrap gap={12} style={{ marginBottom: 16 }}>
        <Space align="center" wrap>
          <Typography.Title level={2} style={{ margin: 0 }}>
            {t('executions.detail_title')}
          </Typography.Title>
          <StatusBadge status={execution.status} />
        </Space>
        <Actions execution={execution} />
      </Flex>
      {execution.error ? (
        <Alert
          type="error"
          showIcon
          role="alert"
          style={{ marginBottom: 16 }}
          message={t('executions.error_title')}
          description={<span style={{ whiteSpace: 'pre-wrap' }}>{execution.error}</span>}
        />
      ) : null}
      <Row gutter={[16, 16]}>
        <Col xs={24} xl={16}>
          <Card title={t('executions.sections.general')} size="small">
            <Descriptions column={{ xs: 1, md: 2 }} size="small" data-testid="execution-general">
              <Descriptions.Item label={t('common.id')} span={2}>
                <Typography.Text code copyable>
                  {execution.id}
                </Typography.Text>
              </Descriptions.Item>
              <Descriptions.Item label={t('common.status')}>
                <StatusBadge status={execution.status} />
              </Descriptions.Item>
              <Descriptions.Item label={t('executions.trigger')}>
                {t(`executions.triggers.${execution.trigger}`, { defaultValue: execution.trigger })}
              </Descriptions.Item>
              <Descriptions.Item label={t('executions.fields.model')}>
                {execution.model_id ? (
                  <Link to={`/models/${execution.model_id}`}>
                    {[execution.model_name, execution.model_version].filter(Boolean).join(' ') || execution.model_id}
                  </Link>
                ) : (
                  none
                )}
              </Descriptions.Item>
              <Descriptions.Item label={t('executions.fields.deployment')}>
                {execution.deployment_id ? (
                  hasFeature('deployments') ? (
                    <Link to={`/deployments/${execution.deployment_id}`}>
                      <Typography.Text code>{execution.deployment_id}</Typography.Text>
                    </Link>
                  ) : (
                    <Typography.Text code>{execution.deployment_id}</Typography.Text>
                  )
                ) : (
                  none
                )}
              </Descriptions.Item>
              <Descriptions.Item label={t('executions.fields.created_at')}>
                <DateTime value={execution.created_at} />
              </Descriptions.Item>
              <Descriptions.Item label={t('executions.started_at')}>
                <DateTime value={execution.started_at} />
              </Descriptions.Item>
              <Descriptions.Item label={t('executions.finished_at')}>
                <DateTime value={execution.finished_at} />
              </Descriptions.Item>
              <Descriptions.Item label={t('executions.duration')}>{formatDuration(execution.duration_s, t)}</Descriptions.Item>
              <Descriptions.Item label={t('executions.fields.input')}>
                {input?.rows != null
                  ? t('executions.rows', { count: input.rows, value: formatNumber(input.rows, i18n.language) })
                  : none}
                {input?.filename ? ` — ${input.filename}` : ''}
              </Descriptions.Item>
              <Descriptions.Item label={t('executions.fields.result')}>
                {execution.result?.rows != null
                  ? t('executions.rows', { count: execution.result.rows, value: formatNumber(execution.result.rows, i18n.language) })
                  : none}
              </Descriptions.Item>
              <Descriptions.Item label={t('executions.fields.created_by')}>{execution.created_by || none}</Descriptions.Item>
              {execution.rerun_of ? (
                <Descriptions.Item label={t('executions.fields.rerun_of')}>
                  <Link to={`/executions/${execution.rerun_of}`}>
                    <Typography.Text code>{execution.rerun_of}</Typography.Text>
                  </Link>
                </Descriptions.Item>
              ) : null}
            </Descriptions>
          </Card>
          <Card title={t('executions.sections.logs')} size="small" style={{ marginTop: 16 }}>
            <LogViewer executionId={execution.id} running={running} />
          </Card>
          <Card title={t('executions.sections.results')} size="small" style={{ marginTop: 16 }}>
            <ResultsPanel execution={execution} />
          </Card>
        </Col>
        <Col xs={24} xl={8}>
          <Card title={t('executions.sections.parameters')} size="small">
            <KeyValueTable data={execution.parameters} empty={t('executions.no_parameters')} />
            {execution.unused_parameters?.length ? (
              <Typography.Paragraph type="secondary" style={{ marginTop: 8 }}>
                {t('executions.unused_parameters', { names: execution.unused_parameters.join(', ') })}
              </Typography.Paragraph>
            ) : null}
          </Card>
          <ResourcesCard execution={execution} />
          <Reruns execution={execution} />
        </Col>
      </Row>
    </div>
  );
}

export default function ExecutionDetailPage() {
  const { executionId = '' } = useParams();
  const query = useExecution(executionId);
  if (query.error) return <ErrorState error={query.error} onRetry={() => void query.refetch()} />;
  return <QueryState query={query}>{(execution) => <ExecutionView execution={execution} />}</QueryState>;
}

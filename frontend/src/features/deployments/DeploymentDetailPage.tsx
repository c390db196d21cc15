/**
 * Guide 5.3: informations générales, Configuration, Planification, Exécutions,
 * the history of changes, and the actions Démarrer/Arrêter, Exécuter, Modifier,
 * Supprimer — each present only for the roles that may use it.
 */
import { useState } from 'react';
import { Alert, Button, Card, Col, Descriptions, Empty, Flex, Row, Space, Table, Typography } from 'antd';
import { EditOutlined, PlayCircleOutlined } from '@ant-design/icons';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import type { Deployment, DeploymentChange, Execution } from '../../api/types';
import { useCan } from '../../auth/AuthContext';
import { DateTime } from '../../components/DateTime';
import { ErrorState, QueryState } from '../../components/QueryState';
import { ResourceSummary } from '../../components/Resources';
import { RunDialog } from '../../components/RunDialog';
import { StatusBadge } from '../../components/StatusBadge';
import { hasFeature } from '../registry';
import { useDeployment, useDeploymentExecutions, useModelSummary, useSchedulePreview } from './api';
import { RUNNER_PARAMETERS } from './constants';
import { CronText } from './CronText';
import { DeleteDeploymentButton } from './DeleteDeploymentButton';
import { formatValue } from './format';
import { InputDropZone, InputSummary, inputOf } from './InputDataset';
import { NextRuns } from './ScheduleFields';
import { StartStopButton } from './StartStopButton';

const RUNNER_NAMES = new Set(RUNNER_PARAMETERS.map((p) => p.name));

function executionLink(id: string) {
  return hasFeature('executions') ? <Link to={`/executions/${id}`}>{id}</Link> : <Typography.Text code>{id}</Typography.Text>;
}

function General({ deployment }: { deployment: Deployment }) {
  const { t } = useTranslation();
  const none = t('common.none');
  const model = `${deployment.model?.name ?? deployment.model_id ?? ''} ${deployment.model?.version ?? ''}`.trim();
  return (
    <Card title={t('deployments.detail.general')} size="small">
      <Descriptions column={{ xs: 1, md: 2 }} size="small" data-testid="deployment-general">
        <Descriptions.Item label={t('deployments.fields.name')}>{deployment.name}</Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.status')}>
          <StatusBadge status={deployment.status} />
        </Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.description')} span={2}>
          {deployment.description || none}
        </Descriptions.Item>
        <Descriptions.Item label={t('deployments.detail.model')}>
          {deployment.model_deleted ? (
            <Typography.Text type="secondary">{`${model} (${t('deployments.model_deleted_short')})`}</Typography.Text>
          ) : (
            <Link to={`/models/${deployment.model_id}`}>{model}</Link>
          )}
        </Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.department')}>{deployment.department || none}</Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.region')}>{deployment.region || none}</Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.created_by')}>{deployment.created_by || none}</Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.created_at')}>
          <DateTime value={deployment.created_at} />
        </Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.updated_at')}>
          <DateTime value={deployment.updated_at} />
        </Descriptions.Item>
      </Descriptions>
    </Card>
  );
}

function Configuration({ deployment }: { deployment: Deployment }) {
  const { t } = useTranslation();
  const can = useCan();
  const rows = Object.entries((deployment.parameters ?? {}) as Record<string, unknown>).map(([key, value]) => ({ key, value }));
  return (
    <Card title={t('deployments.detail.configuration')} size="small" style={{ marginTop: 16 }}>
      <Typography.Title level={3} style={{ fontSize: 15 }}>
        {t('deployments.fields.parameters')}
      </Typography.Title>
      {rows.length ? (
        <Table
          size="small"
          pagination={false}
          rowKey="key"
          dataSource={rows}
          data-testid="deployment-parameters"
          columns={[
            { title: t('common.name'), dataIndex: 'key', render: (key: string) => <Typography.Text code>{key}</Typography.Text> },
            { title: t('common.value'), dataIndex: 'value', render: (value: unknown) => <Typography.Text code>{formatValue(value)}</Typography.Text> },
            {
              title: t('deployments.params.meaning'),
              key: 'meaning',
              render: (_, row) =>
                RUNNER_NAMES.has(row.key) ? t(`deployments.runner_params.${row.key}.meaning`) : t('deployments.params.model_parameter'),
            },
          ]}
        />
      ) : (
        <Empty description={t('deployments.detail.no_parameters')} image={Empty.PRESENTED_IMAGE_SIMPLE} />
      )}
      <Typography.Title level={3} style={{ fontSize: 15, marginTop: 16 }}>
        {t('resources.title')}
      </Typography.Title>
      <ResourceSummary value={{ memory_mb: deployment.memory_mb, timeout_s: deployment.timeout_s }} testId="deployment-resources" />
      <Typography.Title level={3} style={{ fontSize: 15, marginTop: 16 }}>
        {t('deployments.fields.input')}
      </Typography.Title>
      <InputSummary input={inputOf(deployment)} />
      {can('deployments:write') && (
        <div style={{ marginTop: 12 }}>
          <InputDropZone deploymentId={deployment.id} />
        </div>
      )}
    </Card>
  );
}

function Schedule({ deployment }: { deployment: Deployment }) {
  const { t } = useTranslation();
  const zone = deployment.timezone ?? 'UTC';
  const preview = useSchedulePreview(deployment);
  const last = deployment.last_execution as { id?: string; status?: string; time?: string | null } | null | undefined;
  return (
    <Card title={t('deployments.detail.schedule')} size="small">
      {!deployment.schedule && <Alert type="info" showIcon message={t('deployments.schedule.none')} style={{ marginBottom: 12 }} />}
      <Descriptions column={1} size="small" data-testid="deployment-schedule">
        {deployment.schedule && (
          <Descriptions.Item label={t('deployments.fields.schedule')}>
            <CronText expression={deployment.schedule} />
          </Descriptions.Item>
        )}
        <Descriptions.Item label={t('deployments.fields.timezone')}>{zone}</Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.misfire_policy')}>
          {t(`deployments.misfire.${deployment.misfire_policy ?? 'run_once'}`)}
        </Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.max_concurrent')}>{deployment.max_concurrent ?? 1}</Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.jitter_s')}>{t('deployments.detail.seconds', { value: deployment.jitter_s ?? 0 })}</Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.next_run_at')}>
          {deployment.status === 'active' ? (
            <DateTime value={deployment.next_run_at} timeZone={zone} />
          ) : (
            <Typography.Text type="secondary">{t('deployments.detail.not_active')}</Typography.Text>
          )}
        </Descriptions.Item>
        <Descriptions.Item label={t('deployments.fields.last_execution')}>
          {last?.id ? (
            <Space wrap>
              {executionLink(last.id)}
              <StatusBadge status={last.status} />
              <DateTime value={last.time} />
            </Space>
          ) : (
            t('common.none')
          )}
        </Descriptions.Item>
      </Descriptions>
      {deployment.schedule && (
        <QueryState query={preview}>
          {(data) => <NextRuns runs={data.next_runs ?? []} timeZone={data.timezone ?? zone} />}
        </QueryState>
      )}
    </Card>
  );
}

function Executions({ deployment }: { deployment: Deployment }) {
  const { t } = useTranslation();
  const [page, setPage] = useState(1);
  const query = useDeploymentExecutions(deployment.id, page);
  return (
    <Card
      title={t('deployments.detail.executions')}
      size="small"
      style={{ marginTop: 16 }}
      extra={hasFeature('executions') && <Link to={`/executions?deployment_id=${encodeURIComponent(deployment.id)}`}>{t('deployments.detail.all_executions')}</Link>}
    >
      {query.error ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <Table<Execution>
          size="small"
          rowKey="id"
          data-testid="deployment-executions"
          loading={query.isPending}
          dataSource={query.data?.items}
          locale={{ emptyText: t('deployments.detail.no_executions') }}
          pagination={{ current: page, pageSize: 10, total: query.data?.total ?? 0, onChange: setPage, hideOnSinglePage: true }}
          scroll={{ x: true }}
          columns={[
            { title: t('common.id'), dataIndex: 'id', render: (id: string) => executionLink(id) },
            { title: t('common.status'), dataIndex: 'status', render: (status: string) => <StatusBadge status={status} /> },
            { title: t('executions.trigger'), dataIndex: 'trigger', render: (value: string) => t(`executions.triggers.${value}`, { defaultValue: value }) },
            { title: t('executions.started_at'), dataIndex: 'started_at', render: (value: string | null) => <DateTime value={value} /> },
            {
              title: t('executions.duration'),
              dataIndex: 'duration_s',
              render: (value: number | null) => (value == null ? t('common.none') : t('executions.seconds', { value: value.toFixed(1) })),
            },
          ]}
        />
      )}
    </Card>
  );
}

function History({ deployment }: { deployment: Deployment }) {
  const { t } = useTranslation();
  const changes = [...((deployment.history ?? []) as DeploymentChange[])].reverse();
  const show = (field: string | undefined, value: unknown) => {
    if (value === null || value === undefined || value === '') return t('common.none');
    if (field === 'status') return t(`statuses.${String(value)}`, { defaultValue: String(value) });
    if (field === 'misfire_policy') return t(`deployments.misfire.${String(value)}`, { defaultValue: String(value) });
    return formatValue(value);
  };
  return (
    <Card title={t('deployments.detail.history')} size="small" style={{ marginTop: 16 }}>
      <Table<DeploymentChange & { n: number }>
        size="small"
        rowKey="n"
        data-testid="deployment-history"
        dataSource={changes.map((change, n) => ({ ...change, n }))}
        pagination={{ pageSize: 10, hideOnSinglePage: true }}
        locale={{ emptyText: t('deployments.detail.no_history') }}
        scroll={{ x: true }}
        columns={[
          { title: t('deployments.history.at'), dataIndex: 'at', render: (value: string) => <DateTime value={value} /> },
          { title: t('deployments.history.by'), dataIndex: 'by', render: (value?: string | null) => value || t('common.none') },
          {
            title: t('deployments.history.field'),
            dataIndex: 'field',
            // memory_mb / timeout_s are labelled by the "resources" strings
            render: (field: string) => t(`deployments.fields.${field}`, { defaultValue: t(`resources.${field}`, { defaultValue: field }) }),
          },
          { title: t('deployments.history.old'), key: 'old', render: (_, change) => <Typography.Text delete>{show(change.field, change.old)}</Typography.Text> },
          { title: t('deployments.history.new'), key: 'new', render: (_, change) => <Typography.Text strong>{show(change.field, change.new)}</Typography.Text> },
        ]}
      />
    </Card>
  );
}

function DeploymentView({ deployment }: { deployment: Deployment }) {
  const { t } = useTranslation();
  const can = useCan();
  const navigate = useNavigate();
  const [running, setRunning] = useState(false);
  const model = useModelSummary(can('executions:run') && !deployment.model_deleted ? deployment.model_id : undefined);
  const hasInput = Boolean(inputOf(deployment));

  return (
    <div>
      <Flex justify="space-between" align="center" wrap gap={12} style={{ marginBottom: 16 }}>
        <Space align="center">
          <Typography.Title level={2} style={{ margin: 0 }}>
            {deployment.name}
          </Typography.Title>
          <StatusBadge status={deployment.status} />
        </Space>
        <Space wrap>
          {can('deployments:write') && <StartStopButton deployment={deployment} />}
          {can('executions:run') && (
            <Button type="primary" icon={<PlayCircleOutlined />} disabled={Boolean(deployment.model_deleted)} onClick={() => setRunning(true)}>
              {t('deployments.actions.run')}
            </Button>
          )}
          {can('deployments:write') && (
            <Button icon={<EditOutlined />} onClick={() => navigate(`/deployments/${deployment.id}/edit`)}>
              {t('common.edit')}
            </Button>
          )}
          {can('deployments:write') && <DeleteDeploymentButton deployment={deployment} onDeleted={() => navigate('/deployments')} />}
        </Space>
      </Flex>
      {deployment.model_deleted && (
        <Alert type="warning" showIcon role="alert" style={{ marginBottom: 16 }} message={t('deployments.detail.model_deleted')} />
      )}
      <Row gutter={[16, 16]}>
        <Col xs={24} xl={14}>
          <General deployment={deployment} />
          <Configuration deployment={deployment} />
        </Col>
        <Col xs={24} xl={10}>
          <Schedule deployment={deployment} />
        </Col>
      </Row>
      <Executions deployment={deployment} />
      <History deployment={deployment} />
      {running && (
        <RunDialog
          open
          target={{ kind: 'deployment', id: deployment.id, name: deployment.name }}
          // With its own dataset the dialog opens on the file tab and an empty run uses
          // the dataset (RunDialog's typed-rows tab would send its blank first row).
          inputSchema={hasInput ? undefined : model.data?.input_schema ?? undefined}
          inputOptional={hasInput}
          onClose={() => setRunning(false)}
          onStarted={(execution) => {
            if (hasFeature('executions')) navigate(`/executions/${execution.id}`);
          }}
        />
      )}
    </div>
  );
}

export default function DeploymentDetailPage() {
  const { deploymentId = '' } = useParams();
  const query = useDeployment(deploymentId);
  return <QueryState query={query}>{(deployment) => <DeploymentView deployment={deployment} />}</QueryState>;
}

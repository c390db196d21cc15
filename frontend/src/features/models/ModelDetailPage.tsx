/** Guide 4.3: informations générales, tabs, versions and the actions of a model. */
import { useState } from 'react';
import { Button, Card, Col, Descriptions, Empty, Flex, List, Row, Space, Table, Tabs, Tag, Typography, message } from 'antd';
import { CloudUploadOutlined, DownloadOutlined, EditOutlined, PlayCircleOutlined } from '@ant-design/icons';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { errorMessage } from '../../api/errors';
import type { Deployment, Execution, Model } from '../../api/types';
import { useCan } from '../../auth/AuthContext';
import { DateTime } from '../../components/DateTime';
import { ErrorState, QueryState } from '../../components/QueryState';
import { RunDialog } from '../../components/RunDialog';
import { StatusBadge } from '../../components/StatusBadge';
import { hasFeature } from '../registry';
import { downloadModelFile, useModel, useModelDeployments, useModelExecutions, useModelVersions } from './api';
import { DeleteModelButton } from './DeleteModelButton';
import { ModelStatusTag } from './ModelStatusTag';

export function formatBytes(size: number | null | undefined, language: string): string {
  if (size == null) return '';
  const units = language === 'en' ? ['B', 'kB', 'MB', 'GB'] : ['o', 'ko', 'Mo', 'Go'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toLocaleString(language, { maximumFractionDigits: unit ? 1 : 0 })} ${units[unit]}`;
}

function KeyValueTable({ data, empty }: { data: Record<string, unknown> | undefined; empty: string }) {
  const { t } = useTranslation();
  const rows = Object.entries(data ?? {}).map(([key, value]) => ({ key, value }));
  if (!rows.length) return <Empty description={empty} />;
  return (
    <Table
      size="small"
      pagination={false}
      rowKey="key"
      dataSource={rows}
      columns={[
        { title: t('common.name'), dataIndex: 'key' },
        {
          title: t('common.value'),
          dataIndex: 'value',
          render: (value: unknown) => (
            <Typography.Text code>{typeof value === 'string' ? value : JSON.stringify(value)}</Typography.Text>
          ),
        },
      ]}
    />
  );
}

function DeploymentsTab({ model }: { model: Model }) {
  const { t } = useTranslation();
  const query = useModelDeployments(model.id);
  return (
    <QueryState query={query}>
      {(page) => (
        <Table<Deployment>
          size="small"
          rowKey="id"
          dataSource={page.items}
          pagination={false}
          locale={{ emptyText: t('models.detail.no_deployments') }}
          columns={[
            {
              title: t('common.name'),
              dataIndex: 'name',
              render: (name: string, deployment) =>
                hasFeature('deployments') ? <Link to={`/deployments/${deployment.id}`}>{name}</Link> : name,
            },
            { title: t('common.status'), dataIndex: 'status', render: (status: string) => <StatusBadge status={status} /> },
            { title: t('models.detail.schedule'), dataIndex: 'schedule', render: (value?: string | null) => value ?? t('common.none') },
            {
              title: t('models.detail.next_run'),
              dataIndex: 'next_run_at',
              render: (value: string | null, deployment) => <DateTime value={value} timeZone={deployment.timezone ?? undefined} />,
            },
          ]}
        />
      )}
    </QueryState>
  );
}

function ExecutionsTab({ model }: { model: Model }) {
  const { t } = useTranslation();
  const query = useModelExecutions(model.id);
  return (
    <QueryState query={query}>
      {(page) => (
        <Table<Execution>
          size="small"
          rowKey="id"
          dataSource={page.items}
          pagination={false}
          locale={{ emptyText: t('models.detail.no_executions') }}
          columns={[
            {
              title: t('common.id'),
              dataIndex: 'id',
              render: (id: string) =>
                hasFeature('executions') ? <Link to={`/executions/${id}`}>{id}</Link> : <Typography.Text code>{id}</Typography.Text>,
            },
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
    </QueryState>
  );
}

function Versions({ model }: { model: Model }) {
  const { t } = useTranslation();
  const query = useModelVersions(model.id);
  return (
    <Card title={t('models.detail.versions')} size="small">
      <QueryState query={query}>
        {(versions) => (
          <List
            size="small"
            dataSource={versions}
            renderItem={(version) => (
              <List.Item>
                {version.id === model.id ? (
                  <Space>
                    <Typography.Text strong>{version.version}</Typography.Text>
                    <Tag>{t('models.detail.this_version')}</Tag>
                  </Space>
                ) : (
                  <Link to={`/models/${version.id}`}>{version.version}</Link>
                )}
                <ModelStatusTag status={version.status} />
              </List.Item>
            )}
          />
        )}
      </QueryState>
    </Card>
  );
}

function ModelView({ model }: { model: Model }) {
  const { t, i18n } = useTranslation();
  const can = useCan();
  const navigate = useNavigate();
  const [messages, messageHolder] = message.useMessage();
  const [running, setRunning] = useState(false);
  const file = model.file;
  const none = t('common.none');

  return (
    <div>
      {messageHolder}
      <Flex justify="space-between" align="center" wrap gap={12} style={{ marginBottom: 16 }}>
        <Space align="center">
          <Typography.Title level={2} style={{ margin: 0 }}>
            {model.name}
          </Typography.Title>
          <Tag>{model.version}</Tag>
          <ModelStatusTag status={model.status} />
        </Space>
        <Space wrap>
          {can('deployments:write') && hasFeature('deployments') && (
            <Button icon={<CloudUploadOutlined />} onClick={() => navigate(`/deployments/new?model_id=${encodeURIComponent(model.id)}`)}>
              {t('models.actions.deploy')}
            </Button>
          )}
          {can('executions:run') && (
            <Button type="primary" icon={<PlayCircleOutlined />} disabled={!file} onClick={() => setRunning(true)}>
              {t('models.actions.run')}
            </Button>
          )}
          {can('models:download') && file && (
            <Button
              icon={<DownloadOutlined />}
              onClick={() => downloadModelFile(model).catch((error) => void messages.error(errorMessage(error, t)))}
            >
              {t('models.actions.download')}
            </Button>
          )}
          {can('models:write') && (
            <Button icon={<EditOutlined />} onClick={() => navigate(`/models/${model.id}/edit`)}>
              {t('common.edit')}
            </Button>
          )}
          {can('models:write') && <DeleteModelButton model={model} onDeleted={() => navigate('/models')} />}
        </Space>
      </Flex>
      <Row gutter={[16, 16]}>
        <Col xs={24} xl={17}>
          <Card title={t('models.detail.general')} size="small">
            <Descriptions column={{ xs: 1, md: 2 }} size="small">
              <Descriptions.Item label={t('models.fields.name')}>{model.name}</Descriptions.Item>
              <Descriptions.Item label={t('models.fields.version')}>{model.version}</Descriptions.Item>
              <Descriptions.Item label={t('models.fields.description')} span={2}>
                {model.description || none}
              </Descriptions.Item>
              <Descriptions.Item label={t('models.fields.status')}>
                <ModelStatusTag status={model.status} />
              </Descriptions.Item>
              <Descriptions.Item label={t('models.fields.type')}>{t(`models.types.${model.type}`, { defaultValue: model.type })}</Descriptions.Item>
              <Descriptions.Item label={t('models.fields.framework')}>
                {t(`models.frameworks.${model.framework}`, { defaultValue: model.framework })}
              </Descriptions.Item>
              <Descriptions.Item label={t('models.fields.department')}>{model.department || none}</Descriptions.Item>
              <Descriptions.Item label={t('models.fields.region')}>{model.region || none}</Descriptions.Item>
              <Descriptions.Item label={t('models.fields.tags')}>
                {model.tags?.length ? model.tags.map((tag) => <Tag key={tag}>{tag}</Tag>) : none}
              </Descriptions.Item>
              <Descriptions.Item label={t('models.fields.created_by')}>{model.created_by || none}</Descriptions.Item>
              <Descriptions.Item label={t('models.fields.created_at')}>
                <DateTime value={model.created_at} />
              </Descriptions.Item>
              <Descriptions.Item label={t('models.fields.updated_at')}>
                <DateTime value={model.updated_at} />
              </Descriptions.Item>
            </Descriptions>
          </Card>
          <Card title={t('models.detail.file')} size="small" style={{ marginTop: 16 }}>
            {file ? (
              <Descriptions column={{ xs: 1, md: 2 }} size="small" data-testid="model-file">
                <Descriptions.Item label={t('models.file.name')}>{file.filename}</Descriptions.Item>
                <Descriptions.Item label={t('models.file.format')}>{file.format || none}</Descriptions.Item>
                <Descriptions.Item label={t('models.file.size')}>{formatBytes(file.size, i18n.language)}</Descriptions.Item>
                <Descriptions.Item label={t('models.file.estimator')}>{file.estimator || none}</Descriptions.Item>
                <Descriptions.Item label={t('models.file.sklearn_version')}>{file.sklearn_version || none}</Descriptions.Item>
                <Descriptions.Item label={t('models.file.uploaded_at')}>
                  <DateTime value={file.uploaded_at} />
                </Descriptions.Item>
                <Descriptions.Item label={t('models.file.sha256')} span={2}>
                  <Typography.Text code copyable style={{ wordBreak: 'break-all' }}>
                    {file.sha256}
                  </Typography.Text>
                </Descriptions.Item>
              </Descriptions>
            ) : (
              <Empty description={t('models.file.none')} />
            )}
          </Card>
          <Card size="small" style={{ marginTop: 16 }}>
            <Tabs
              items={[
                { key: 'parameters', label: t('models.tabs.parameters'), children: <KeyValueTable data={model.parameters} empty={t('models.detail.no_parameters')} /> },
                { key: 'metrics', label: t('models.tabs.metrics'), children: <KeyValueTable data={model.metrics} empty={t('models.detail.no_metrics')} /> },
                { key: 'deployments', label: t('models.tabs.deployments'), children: <DeploymentsTab model={model} /> },
                { key: 'executions', label: t('models.tabs.executions'), children: <ExecutionsTab model={model} /> },
              ]}
            />
          </Card>
        </Col>
        <Col xs={24} xl={7}>
          <Versions model={model} />
        </Col>
      </Row>
      {running && (
        <RunDialog
          open
          target={{ kind: 'model', id: model.id, name: `${model.name} ${model.version ?? ''}` }}
          inputSchema={model.input_schema ?? undefined}
          onClose={() => setRunning(false)}
          onStarted={(execution) => navigate(hasFeature('executions') ? `/executions/${execution.id}` : `/models/${model.id}`)}
        />
      )}
    </div>
  );
}

export default function ModelDetailPage() {
  const { modelId = '' } = useParams();
  const query = useModel(modelId);
  if (query.error) return <ErrorState error={query.error} onRetry={() => void query.refetch()} />;
  return <QueryState query={query}>{(model) => <ModelView model={model} />}</QueryState>;
}

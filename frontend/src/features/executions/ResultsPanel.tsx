/** Guide 6.2 "Résultats": a preview of the first rows and the download in CSV, JSON, Parquet. */
import { Alert, Button, Empty, message, Space, Table, Typography } from 'antd';
import { DownloadOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { errorMessage } from '../../api/errors';
import type { Execution } from '../../api/types';
import { downloadResults, useResultsPreview } from './api';
import { formatNumber } from './format';

const FORMATS = ['csv', 'json', 'parquet'] as const;

export function ResultsPanel({ execution }: { execution: Execution }) {
  const { t, i18n } = useTranslation();
  const [messages, messageHolder] = message.useMessage();
  const ready = execution.status === 'succeeded' && Boolean(execution.result);
  const preview = useResultsPreview(execution.id, ready);
  if (!ready) {
    return <Empty description={t(execution.status === 'failed' ? 'executions.results.failed' : 'executions.results.none')} />;
  }
  const columns = (preview.data?.columns ?? []).map((name, index) => ({
    title: name,
    key: name,
    dataIndex: index,
    render: (value: unknown) => (value == null ? t('common.none') : String(value)),
  }));
  const rows = (preview.data?.rows ?? []).map((row, index) => ({ ...row, key: index }));
  return (
    <div>
      {messageHolder}
      <Space wrap style={{ marginBottom: 12 }}>
        <Typography.Text strong>{t('executions.actions.download_results')}</Typography.Text>
        {FORMATS.map((format) => (
          <Button
            key={format}
            icon={<DownloadOutlined />}
            onClick={() => downloadResults(execution.id, format).catch((error) => void messages.error(errorMessage(error, t)))}
          >
            {t(`executions.results.format_${format}`)}
          </Button>
        ))}
      </Space>
      <Typography.Paragraph type="secondary">
        {t('executions.results.preview', {
          shown: rows.length,
          total: formatNumber(preview.data?.total ?? execution.result?.rows, i18n.language),
        })}
      </Typography.Paragraph>
      {preview.error ? (
        <Alert type="info" showIcon message={errorMessage(preview.error, t)} />
      ) : (
        <Table
          size="small"
          data-testid="results-preview"
          loading={preview.isPending}
          columns={columns}
          dataSource={rows}
          pagination={false}
          scroll={{ x: 'max-content' }}
        />
      )}
    </div>
  );
}

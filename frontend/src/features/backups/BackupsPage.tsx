/** Guide 8.2 « Sauvegarde et restauration »: the backups (date, status, size, counts),
 * « Créer une sauvegarde », download, and « Restaurer » from a listed backup or an
 * uploaded file — each restore behind a confirmation that says what it replaces —
 * with the restore's progress. */
import { useState } from 'react';
import { Alert, Button, Flex, message as antMessage, Modal, Progress, Space, Tooltip, Typography, Upload } from 'antd';
import { CloudDownloadOutlined, HistoryOutlined, PlusOutlined, UploadOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import { errorMessage } from '../../api/errors';
import { DataTable, type Column } from '../../components/DataTable';
import { DateTime } from '../../components/DateTime';
import { ErrorState } from '../../components/QueryState';
import { StatusBadge } from '../../components/StatusBadge';
import { useUrlState } from '../../components/useUrlState';
import { type Backup, type Restore, downloadBackup, formatSize, useBackups, useCreateBackup, useLatestRestore, useRestore } from './api';

const DEFAULTS = { page: 1, per_page: 20 };

type T = (key: string, options?: Record<string, unknown>) => string;

/** The French words of a failed backup action (a refused archive says why). */
export function backupError(caught: unknown, t: T): string {
  if (caught instanceof ApiError) {
    const reason = caught.details?.reason;
    if (caught.status === 400 && typeof reason === 'string') {
      return t(`backups.refused.${reason}`, { defaultValue: t('backups.refused.damaged') });
    }
    if (caught.status === 409) return t('backups.busy');
    if (caught.status === 503 && caught.details?.reason === 'maintenance') return t('backups.maintenance');
  }
  return errorMessage(caught, t as never);
}

function Contents({ backup }: { backup: Backup }) {
  const { t } = useTranslation();
  const summary = backup.summary;
  if (!summary) return <span>—</span>;
  const parts = (['models', 'deployments', 'executions', 'users', 'files'] as const).map((key) =>
    t(`backups.counts.${key}`, { count: summary[key] ?? 0 }),
  );
  return <span>{parts.join(' · ')}</span>;
}

function RestorePanel({ restore }: { restore: Restore }) {
  const { t } = useTranslation();
  const progress = restore.progress ?? { done: 0, total: 0 };
  const percent = progress.total ? Math.round(((progress.done ?? 0) * 100) / progress.total) : 0;
  const from = restore.backup_created_at ? <DateTime value={restore.backup_created_at} /> : null;
  const source = restore.source as { kind?: string; filename?: string } | undefined;
  const file = source?.kind === 'upload' ? <span>{t('backups.source_file', { name: source.filename })}</span> : null;
  if (restore.status === 'running') {
    return (
      <Alert
        type="info"
        showIcon
        style={{ marginBottom: 16 }}
        data-testid="restore-status"
        message={t('backups.restore_running')}
        description={
          <Space direction="vertical" style={{ width: '100%' }}>
            {file}
            <span>{t(`backups.phases.${restore.phase ?? 'verifying'}`)}</span>
            <Progress percent={percent} aria-label={t('backups.restore_progress')} />
          </Space>
        }
      />
    );
  }
  const ok = restore.status === 'succeeded';
  return (
    <Alert
      type={ok ? 'success' : 'error'}
      showIcon
      closable
      style={{ marginBottom: 16 }}
      data-testid="restore-status"
      message={ok ? t('backups.restore_succeeded') : t('backups.restore_failed')}
      description={
        <Space direction="vertical">
          {file}
          {from && (
            <span>
              {t('backups.restore_from')} {from}
            </span>
          )}
          {restore.finished_at && (
            <span>
              {t('backups.finished_at')} <DateTime value={restore.finished_at} />
            </span>
          )}
          {!ok && restore.error && <Typography.Text>{restore.error}</Typography.Text>}
        </Space>
      }
    />
  );
}

export default function BackupsPage() {
  const { t } = useTranslation();
  const [modal, modalHolder] = Modal.useModal();
  const [message, messageHolder] = antMessage.useMessage();
  const [state, setState] = useUrlState(DEFAULTS);
  const backups = useBackups(state.page, state.per_page);
  const latest = useLatestRestore();
  const create = useCreateBackup();
  const restore = useRestore();
  const [downloading, setDownloading] = useState<string | null>(null);
  const restoring = latest.data?.status === 'running' || restore.isPending;

  const startBackup = async () => {
    try {
      await create.mutateAsync();
      void message.success(t('backups.started'));
    } catch (caught) {
      modal.error({ title: t('backups.action_failed'), content: backupError(caught, t) });
    }
  };

  const confirmRestore = (source: { backupId: string; date: string } | { file: File }) => {
    const what =
      'file' in source
        ? t('backups.confirm_file', { name: source.file.name })
        : t('backups.confirm_backup', { date: new Date(source.date).toLocaleString('fr-FR') });
    modal.confirm({
      title: t('backups.confirm_title'),
      width: 560,
      content: (
        <Space direction="vertical">
          <span>{what}</span>
          <span>{t('backups.confirm_replaces')}</span>
          <span>{t('backups.confirm_kept')}</span>
        </Space>
      ),
      okText: t('backups.restore'),
      okButtonProps: { danger: true },
      cancelText: t('common.cancel'),
      onOk: async () => {
        try {
          await restore.mutateAsync('file' in source ? { file: source.file } : { backupId: source.backupId });
          void message.info(t('backups.restore_started'));
        } catch (caught) {
          modal.error({ title: t('backups.restore_refused'), content: backupError(caught, t) });
        }
      },
    });
  };

  const download = async (backup: Backup) => {
    setDownloading(backup.id);
    try {
      await downloadBackup(backup);
    } catch (caught) {
      modal.error({ title: t('backups.action_failed'), content: backupError(caught, t) });
    } finally {
      setDownloading(null);
    }
  };

  const columns: Column<Backup>[] = [
    { key: 'created_at', title: t('backups.fields.created_at'), render: (b) => <DateTime value={b.created_at} /> },
    {
      key: 'status',
      title: t('backups.fields.status'),
      render: (b) =>
        b.status === 'failed' && b.error ? (
          <Space direction="vertical" size={0}>
            <StatusBadge status={b.status} />
            <Typography.Text type="danger" style={{ fontSize: 12 }}>
              {b.error}
            </Typography.Text>
          </Space>
        ) : (
          <StatusBadge status={b.status} />
        ),
    },
    { key: 'trigger', title: t('backups.fields.trigger'), render: (b) => t(`backups.triggers.${b.trigger ?? 'manual'}`) },
    { key: 'size', title: t('backups.fields.size'), render: (b) => formatSize(b.size) },
    { key: 'counts', title: t('backups.fields.counts'), render: (b) => <Contents backup={b} /> },
    {
      key: 'actions',
      title: t('common.actions'),
      render: (b) =>
        b.status === 'succeeded' ? (
          <Space size="small" wrap>
            <Tooltip title={t('backups.download')}>
              <Button
                size="small"
                icon={<CloudDownloadOutlined />}
                loading={downloading === b.id}
                aria-label={`${t('backups.download')} ${new Date(b.created_at).toLocaleString('fr-FR')}`}
                onClick={() => void download(b)}
              >
                {t('backups.download')}
              </Button>
            </Tooltip>
            <Button
              size="small"
              danger
              icon={<HistoryOutlined />}
              disabled={restoring}
              aria-label={`${t('backups.restore')} ${new Date(b.created_at).toLocaleString('fr-FR')}`}
              onClick={() => confirmRestore({ backupId: b.id, date: b.created_at })}
            >
              {t('backups.restore')}
            </Button>
          </Space>
        ) : null,
    },
  ];

  return (
    <div>
      {modalHolder}
      {messageHolder}
      <Flex justify="space-between" align="center" wrap gap={8} style={{ marginBottom: 16 }}>
        <h2 style={{ margin: 0, fontSize: 28, fontWeight: 600 }}>{t('backups.title')}</h2>
        <Space wrap>
          <Upload
            accept=".gz,.tgz,application/gzip"
            showUploadList={false}
            disabled={restoring}
            beforeUpload={(file) => {
              confirmRestore({ file });
              return false;
            }}
          >
            <Button icon={<UploadOutlined />} disabled={restoring}>
              {t('backups.restore_file')}
            </Button>
          </Upload>
          <Button type="primary" icon={<PlusOutlined />} loading={create.isPending} disabled={restoring} onClick={() => void startBackup()}>
            {t('backups.create')}
          </Button>
        </Space>
      </Flex>
      <Typography.Paragraph type="secondary">{t('backups.intro')}</Typography.Paragraph>
      {latest.data && <RestorePanel restore={latest.data} />}
      {backups.error ? (
        <ErrorState error={backups.error} onRetry={() => void backups.refetch()} />
      ) : (
        <DataTable<Backup>
          testId="backups-table"
          columns={columns}
          rows={backups.data?.items}
          rowKey={(b) => b.id}
          loading={backups.isFetching && !backups.data}
          empty={t('backups.empty')}
          page={state.page}
          perPage={state.per_page}
          total={backups.data?.total ?? 0}
          onPage={(page, perPage) => setState({ page, per_page: perPage })}
          totalText={(total) => t('backups.total', { count: total })}
        />
      )}
    </div>
  );
}

/**
 * The default input dataset of scheduled runs: what is attached, a drop zone
 * (CSV / JSON / Parquet, drag-and-drop or click) with upload progress, and the
 * deployer's verdict (accepted: rows and columns; refused: why).
 */
import { useState } from 'react';
import { Alert, Descriptions, Progress, Typography, Upload } from 'antd';
import { InboxOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import { errorMessage } from '../../api/errors';
import type { Deployment, DeploymentInput } from '../../api/types';
import { DateTime } from '../../components/DateTime';
import { formatBytes } from './format';
import { useUploadInput } from './api';
import { INPUT_ACCEPT } from './constants';

export function inputOf(deployment: Pick<Deployment, 'input'>): DeploymentInput | null {
  const input = deployment.input as DeploymentInput | null | undefined;
  return input && Object.keys(input).length ? input : null;
}

/** What is attached now. */
export function InputSummary({ input }: { input: DeploymentInput | null }) {
  const { t, i18n } = useTranslation();
  if (!input) return <Typography.Text type="secondary">{t('deployments.input.none')}</Typography.Text>;
  return (
    <Descriptions size="small" column={{ xs: 1, md: 2 }} data-testid="deployment-input">
      <Descriptions.Item label={t('deployments.input.filename')}>{input.filename ?? t('common.none')}</Descriptions.Item>
      <Descriptions.Item label={t('deployments.input.format')}>{input.format?.toUpperCase() ?? t('common.none')}</Descriptions.Item>
      <Descriptions.Item label={t('deployments.input.rows')}>{input.rows ?? t('common.none')}</Descriptions.Item>
      <Descriptions.Item label={t('deployments.input.size')}>{formatBytes(input.size, i18n.language) || t('common.none')}</Descriptions.Item>
      <Descriptions.Item label={t('deployments.input.columns')} span={2}>
        {input.columns?.length ? input.columns.join(', ') : t('common.none')}
      </Descriptions.Item>
      <Descriptions.Item label={t('deployments.input.uploaded')} span={2}>
        <DateTime value={input.uploaded_at} />
        {input.uploaded_by ? ` — ${input.uploaded_by}` : ''}
      </Descriptions.Item>
    </Descriptions>
  );
}

/** Why the deployer refused a dataset, in words. */
export function InputRefusal({ error }: { error: ApiError }) {
  const { t } = useTranslation();
  const missing = error.details.missing_columns as string[] | undefined;
  const line = error.details.line as number | undefined;
  const column = error.details.column as string | undefined;
  return (
    <Alert
      type="error"
      showIcon
      role="alert"
      data-testid="input-verdict"
      style={{ marginTop: 8 }}
      message={t('deployments.input.refused')}
      description={
        <div>
          {error.code === 'invalid_input_data' ? (
            <>
              {missing?.length ? (
                <div>{t('deployments.input.missing_columns', { columns: missing.join(', ') })}</div>
              ) : (
                <div>{t('deployments.input.unreadable')}</div>
              )}
              {line !== undefined && <div>{t('deployments.input.at_line', { line })}</div>}
              {column && <div>{t('deployments.input.at_column', { column })}</div>}
              <Typography.Text type="secondary">{error.message}</Typography.Text>
            </>
          ) : (
            <div>{errorMessage(error, t)}</div>
          )}
        </div>
      }
    />
  );
}

interface DropZoneProps {
  /** Upload at once to this deployment; without it, hand the chosen file to `onSelect`. */
  deploymentId?: string;
  file?: File | null;
  onSelect?: (file: File | null) => void;
  /** An upload made by the parent (creation) reports here; with `deploymentId`, the first verdict. */
  progress?: number | null;
  error?: ApiError | null;
}

export function InputDropZone({ deploymentId, file, onSelect, progress: outerProgress, error: outerError }: DropZoneProps) {
  const { t } = useTranslation();
  const upload = useUploadInput();
  const [chosen, setChosen] = useState<File | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [accepted, setAccepted] = useState<DeploymentInput | null>(null);
  // With a deployment, `error` is only the first verdict (a refusal at creation).
  const [error, setError] = useState<ApiError | null>(deploymentId ? outerError ?? null : null);
  const shown = deploymentId ? chosen : file ?? null;
  const shownError = deploymentId ? error : outerError ?? null;
  const shownProgress = deploymentId ? progress : outerProgress ?? null;

  const send = async (picked: File) => {
    if (!deploymentId) return;
    setChosen(picked);
    setError(null);
    setAccepted(null);
    setProgress(0);
    try {
      const deployment = await upload.mutateAsync({ id: deploymentId, file: picked, onProgress: setProgress });
      setAccepted(inputOf(deployment));
    } catch (caught) {
      setProgress(null);
      setError(caught instanceof ApiError ? caught : new ApiError(0, 'unknown', ''));
    }
  };

  return (
    <div>
      <Upload.Dragger
        accept={INPUT_ACCEPT}
        multiple={false}
        maxCount={1}
        beforeUpload={(picked) => {
          if (deploymentId) void send(picked);
          else onSelect?.(picked);
          return false; // sent by us (progress, verdict), not by the component
        }}
        onRemove={() => {
          if (deploymentId) {
            setChosen(null);
            setError(null);
          } else onSelect?.(null);
        }}
        fileList={shown ? [{ uid: 'input-dataset', name: shown.name, status: shownError ? 'error' : 'done' }] : []}
        data-testid="input-dropzone"
      >
        <p className="ant-upload-drag-icon">
          <InboxOutlined aria-hidden />
        </p>
        <p className="ant-upload-text">{t('deployments.input.drop')}</p>
        <p className="ant-upload-hint">{t('deployments.input.drop_hint')}</p>
      </Upload.Dragger>
      {shownProgress !== null && (
        <Progress
          percent={Math.round(shownProgress * 100)}
          status={shownError ? 'exception' : shownProgress >= 1 ? 'success' : 'active'}
          aria-label={t('deployments.input.progress')}
        />
      )}
      {accepted && (
        <Alert
          type="success"
          showIcon
          role="status"
          data-testid="input-verdict"
          style={{ marginTop: 8 }}
          message={t('deployments.input.accepted', { rows: accepted.rows ?? 0, filename: accepted.filename ?? '' })}
          description={accepted.columns?.length ? t('deployments.input.accepted_columns', { columns: accepted.columns.join(', ') }) : undefined}
        />
      )}
      {shownError && <InputRefusal error={shownError} />}
    </div>
  );
}

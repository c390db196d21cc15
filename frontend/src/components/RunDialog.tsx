/**
 * The shared "Exécuter" dialog (a model or a deployment): a CSV / JSON / Parquet
 * file, or rows typed in a small table built from the model's input schema, plus
 * parameters. Resolves with the new execution (the caller opens it).
 */
import { useState } from 'react';
import { Alert, Button, Collapse, Input, InputNumber, Modal, Space, Table, Tabs, Typography, Upload } from 'antd';
import { DeleteOutlined, InboxOutlined, PlusOutlined } from '@ant-design/icons';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { apiFetch, apiUpload, ApiError } from '../api/client';
import { ErrorText } from './ErrorText';
import { executionKeys } from '../api/keys';
import type { Execution } from '../api/types';
import { KeyValueEditor, toParameters, type KeyValueRow } from './KeyValueEditor';
import { RESOURCE_FIELDS, ResourceInputs, resourceServerErrors, resourcesValid, useResourceLimits, type ResourceValues } from './Resources';

export interface RunTarget {
  kind: 'model' | 'deployment';
  id: string;
  name: string;
}

export interface InputField {
  name: string;
  type?: string;
}

interface Props {
  open: boolean;
  target: RunTarget;
  inputSchema?: InputField[];
  /** A deployment may run on its own dataset (no input given). */
  inputOptional?: boolean;
  onClose: () => void;
  onStarted: (execution: Execution) => void;
}

type Row = Record<string, string | number | null> & { __key: string };

const isNumeric = (type?: string) => !type || /number|float|int|double/i.test(type);
let rowCounter = 0;
const emptyRow = (fields: InputField[]): Row =>
  Object.fromEntries([['__key', `row-${(rowCounter += 1)}`], ...fields.map((field) => [field.name, null])]) as Row;

export function RunDialog({ open, target, inputSchema, inputOptional, onClose, onStarted }: Props) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const fields = inputSchema ?? [];
  const [mode, setMode] = useState<'file' | 'rows'>(fields.length ? 'rows' : 'file');
  const [file, setFile] = useState<File | null>(null);
  const [rows, setRows] = useState<Row[]>(() => (fields.length ? [emptyRow(fields)] : []));
  const [parameters, setParameters] = useState<KeyValueRow[]>([]);
  const [progress, setProgress] = useState<number | null>(null);
  const [resources, setResources] = useState<ResourceValues>({});
  const limits = useResourceLimits();
  const path = `/${target.kind === 'model' ? 'models' : 'deployments'}/${encodeURIComponent(target.id)}/executions`;

  const run = useMutation({
    mutationFn: async (): Promise<Execution> => {
      const params = toParameters(parameters);
      // Only the resources given: the others come from the deployment (or the defaults).
      const own = Object.fromEntries(RESOURCE_FIELDS.filter((field) => resources[field] != null).map((field) => [field, resources[field]]));
      if (mode === 'file' && file) {
        const form = new FormData();
        form.append('file', file, file.name);
        form.append('parameters', new Blob([JSON.stringify(params)], { type: 'application/json' }));
        for (const [field, value] of Object.entries(own)) form.append(field, String(value));
        return apiUpload<Execution>(path, form, { onProgress: setProgress });
      }
      // A row left wholly blank is no input (a deployment then runs on its own dataset).
      const typed = rows
        .map(({ __key: _key, ...values }) => values)
        .filter((values) => Object.values(values).some((value) => value !== null && value !== ''));
      const body: Record<string, unknown> = { parameters: params, ...own };
      if (mode === 'rows' && typed.length) body.input = { rows: typed };
      return apiFetch<Execution>(path, { method: 'POST', json: body });
    },
    onSuccess: (execution) => {
      void client.invalidateQueries({ queryKey: executionKeys.all });
      onStarted(execution);
      onClose();
    },
    onSettled: () => setProgress(null),
  });

  const missingInput =
    !inputOptional && ((mode === 'file' && !file) || (mode === 'rows' && (!rows.length || !fields.length)));
  const error = run.error instanceof ApiError ? run.error : run.error ? new ApiError(0, 'unknown', '') : null;
  const resourceErrors = resourceServerErrors(error, t, limits.data);
  const badResources = !resourcesValid(resources, t, limits.data);

  const columns = [
    ...fields.map((field) => ({
      title: field.name,
      dataIndex: field.name,
      render: (_: unknown, row: Row, index: number) => {
        const update = (value: string | number | null) =>
          setRows((current) => current.map((item, i) => (i === index ? { ...item, [field.name]: value } : item)));
        return isNumeric(field.type) ? (
          <InputNumber aria-label={`${field.name} ${index + 1}`} value={row[field.name] as number | null} onChange={update} style={{ width: 110 }} />
        ) : (
          <Input aria-label={`${field.name} ${index + 1}`} value={(row[field.name] as string | null) ?? ''} onChange={(event) => update(event.target.value)} />
        );
      },
    })),
    {
      title: '',
      key: 'remove',
      render: (_: unknown, _row: Row, index: number) => (
        <Button
          type="text"
          icon={<DeleteOutlined />}
          aria-label={t('run.remove_row', { n: index + 1 })}
          onClick={() => setRows((current) => current.filter((_item, i) => i !== index))}
        />
      ),
    },
  ];

  return (
    <Modal
      open={open}
      width={Math.min(1100, 360 + fields.length * 130)}
      title={t('run.title', { name: target.name })}
      okText={t('run.submit')}
      cancelText={t('common.cancel')}
      onCancel={onClose}
      onOk={() => run.mutate()}
      okButtonProps={{ disabled: missingInput || badResources, loading: run.isPending }}
      destroyOnHidden
    >
      <Tabs
        activeKey={mode}
        onChange={(key) => setMode(key as 'file' | 'rows')}
        items={[
          {
            key: 'file',
            label: t('run.file_tab'),
            children: (
              <Upload.Dragger
                accept=".csv,.json,.parquet"
                maxCount={1}
                beforeUpload={(chosen) => {
                  setFile(chosen);
                  return false;
                }}
                onRemove={() => setFile(null)}
                fileList={file ? [{ uid: 'input', name: file.name, status: 'done' }] : []}
              >
                <p className="ant-upload-drag-icon">
                  <InboxOutlined aria-hidden />
                </p>
                <p className="ant-upload-text">{t('run.drop')}</p>
                <p className="ant-upload-hint">{t('run.drop_hint')}</p>
              </Upload.Dragger>
            ),
          },
          {
            key: 'rows',
            label: t('run.rows_tab'),
            disabled: !fields.length,
            children: (
              <div>
                <Table<Row> size="small" rowKey="__key" pagination={false} dataSource={rows} columns={columns} scroll={{ x: true }} />
                <Button icon={<PlusOutlined />} style={{ marginTop: 8 }} onClick={() => setRows((current) => [...current, emptyRow(fields)])}>
                  {t('run.add_row')}
                </Button>
              </div>
            ),
          },
        ]}
      />
      <Typography.Title level={3} style={{ fontSize: 16, marginTop: 16 }}>
        {t('run.parameters')}
      </Typography.Title>
      <KeyValueEditor value={parameters} onChange={setParameters} />
      <Collapse
        style={{ marginTop: 16 }}
        size="small"
        defaultActiveKey={[]}
        items={[
          {
            key: 'resources',
            label: t('resources.run_title'),
            children: (
              <div>
                <Typography.Paragraph type="secondary">{t('resources.run_help')}</Typography.Paragraph>
                <ResourceInputs value={resources} onChange={setResources} limits={limits.data} errors={resourceErrors} />
              </div>
            ),
          },
        ]}
      />
      {progress !== null && <Typography.Text type="secondary">{Math.round(progress * 100)} %</Typography.Text>}
      {error && (
        <Alert
          style={{ marginTop: 12 }}
          type="error"
          showIcon
          role="alert"
          message={<ErrorText error={error} />}
          description={<Space direction="vertical">{error.message}</Space>}
        />
      )}
    </Modal>
  );
}

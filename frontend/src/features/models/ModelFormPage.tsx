/** Guide 4.2: "Ajouter un modèle" (and "Modifier"): every field, tags, the file drop zone. */
import { useEffect, useState } from 'react';
import { Alert, AutoComplete, Button, Card, Form, Input, Progress, Select, Space, Typography, Upload } from 'antd';
import { InboxOutlined } from '@ant-design/icons';
import { useNavigate, useParams } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import { ErrorText } from '../../components/ErrorText';
import type { Model, ModelWrite } from '../../api/types';
import { Loading, ErrorState } from '../../components/QueryState';
import { useModel, useModelFacets, useSaveModel } from './api';
import { FRAMEWORKS, MODEL_FILE_ACCEPT, MODEL_TYPES, isSemver } from './constants';

interface Values {
  name: string;
  description?: string;
  version: string;
  type?: string;
  framework?: string;
  department?: string;
  region?: string;
  tags?: string[];
}

const EDITABLE: (keyof Values)[] = ['name', 'description', 'version', 'type', 'framework', 'department', 'region', 'tags'];

export default function ModelFormPage() {
  const { modelId } = useParams();
  const existing = useModel(modelId ?? '');
  if (!modelId) return <ModelForm />;
  if (existing.isPending) return <Loading />;
  if (existing.error || !existing.data) return <ErrorState error={existing.error} onRetry={() => void existing.refetch()} />;
  return <ModelForm model={existing.data} />;
}

/** The registry's verdict on a refused file, in words (reason + the unsafe global). */
export function FileRefusal({ error }: { error: ApiError }) {
  const { t } = useTranslation();
  const reason = String(error.details.reason ?? (error.code === 'payload_too_large' ? 'too_large' : ''));
  const global = error.details.offending_global as string | undefined;
  return (
    <Alert
      type="error"
      showIcon
      role="alert"
      data-testid="file-verdict"
      message={t('models.file.refused')}
      description={
        <div>
          <div>{t(`models.file.reasons.${reason}`, { defaultValue: t('models.file.reasons.other') })}</div>
          {global && (
            <div>
              {t('models.file.offending_global')} <Typography.Text code>{global}</Typography.Text>
            </div>
          )}
          <div>
            <Typography.Text type="secondary">{error.message}</Typography.Text>
          </div>
        </div>
      }
    />
  );
}

function ModelForm({ model }: { model?: Model }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [form] = Form.useForm<Values>();
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const save = useSaveModel();
  const facets = useModelFacets();
  const editing = Boolean(model);

  useEffect(() => {
    if (model) form.setFieldsValue(model as unknown as Values);
  }, [form, model]);

  const onFinish = async (values: Values) => {
    setError(null);
    setProgress(file ? 0 : null);
    const data: Partial<ModelWrite> = {};
    for (const key of EDITABLE) {
      const value = values[key];
      if (value !== undefined && value !== '') (data as Record<string, unknown>)[key] = value;
      else if (editing && (key === 'description' || key === 'department' || key === 'region')) {
        (data as Record<string, unknown>)[key] = null;
      }
    }
    try {
      const saved = await save.mutateAsync({ id: model?.id, data, file, onProgress: setProgress });
      navigate(`/models/${saved.id}`);
    } catch (caught) {
      setProgress(null);
      if (!(caught instanceof ApiError)) throw caught;
      setError(caught);
      const fields = caught.fieldErrors();
      const known = Object.entries(fields).filter(([name]) => EDITABLE.includes(name as keyof Values));
      form.setFields(known.map(([name, errors]) => ({ name: name as keyof Values, errors })));
      if (caught.status === 409) {
        form.setFields([{ name: 'version', errors: [t('models.form.version_taken')] }]);
      }
    }
  };

  const fileRefused = error && (error.code === 'invalid_model_file' || error.code === 'payload_too_large');
  const otherError = error && !fileRefused && error.code !== 'validation_error' && error.status !== 409;
  const options = (values: string[] | undefined) => (values ?? []).map((value) => ({ value }));

  return (
    <Card>
      <Typography.Title level={2} style={{ marginTop: 0 }}>
        {editing ? t('models.form.edit_title', { name: model?.name }) : t('models.add')}
      </Typography.Title>
      <Form<Values>
        form={form}
        layout="vertical"
        style={{ maxWidth: 720 }}
        initialValues={{ version: '1.0.0', type: 'classification', framework: 'scikit-learn', tags: [] }}
        onFinish={onFinish}
        scrollToFirstError
      >
        <Form.Item name="name" label={t('models.fields.name')} rules={[{ required: true, whitespace: true, message: t('validation.required') }]}>
          <Input maxLength={200} />
        </Form.Item>
        <Form.Item name="description" label={t('models.fields.description')}>
          <Input.TextArea rows={3} maxLength={5000} />
        </Form.Item>
        <Form.Item
          name="version"
          label={t('models.fields.version')}
          validateTrigger="onChange"
          hasFeedback
          rules={[
            { required: true, message: t('validation.required') },
            {
              validator: (_, value: string) =>
                !value || isSemver(value) ? Promise.resolve() : Promise.reject(new Error(t('models.form.semver'))),
            },
          ]}
        >
          <Input maxLength={64} />
        </Form.Item>
        <Space size="large" wrap>
          <Form.Item name="type" label={t('models.fields.type')} style={{ minWidth: 220 }}>
            <Select options={MODEL_TYPES.map((value) => ({ value, label: t(`models.types.${value}`) }))} />
          </Form.Item>
          <Form.Item name="framework" label={t('models.fields.framework')} style={{ minWidth: 220 }}>
            <Select options={FRAMEWORKS.map((value) => ({ value, label: t(`models.frameworks.${value}`) }))} />
          </Form.Item>
        </Space>
        <Space size="large" wrap>
          <Form.Item name="department" label={t('models.fields.department')} style={{ minWidth: 220 }}>
            <AutoComplete options={options(facets.data?.department)} filterOption maxLength={200} />
          </Form.Item>
          <Form.Item name="region" label={t('models.fields.region')} style={{ minWidth: 220 }}>
            <AutoComplete options={options(facets.data?.region)} filterOption maxLength={200} />
          </Form.Item>
        </Space>
        <Form.Item name="tags" label={t('models.fields.tags')} extra={t('models.form.tags_help')}>
          <Select mode="tags" tokenSeparators={[',']} open={false} suffixIcon={null} aria-label={t('models.fields.tags')} />
        </Form.Item>
        <Form.Item label={editing ? t('models.form.replace_file') : t('models.fields.file')}>
          <Upload.Dragger
            accept={MODEL_FILE_ACCEPT}
            multiple={false}
            maxCount={1}
            beforeUpload={(chosen) => {
              setFile(chosen);
              setError(null);
              return false; // sent with the form, not on its own
            }}
            onRemove={() => {
              setFile(null);
              setError(null);
            }}
            fileList={file ? [{ uid: 'model-file', name: file.name, status: fileRefused ? 'error' : 'done' }] : []}
            data-testid="model-file-dropzone"
          >
            <p className="ant-upload-drag-icon">
              <InboxOutlined aria-hidden />
            </p>
            <p className="ant-upload-text">{t('models.form.drop')}</p>
            <p className="ant-upload-hint">{t('models.form.drop_hint')}</p>
          </Upload.Dragger>
          {progress !== null && (
            <Progress percent={Math.round(progress * 100)} status={save.isPending ? 'active' : 'normal'} aria-label={t('models.form.progress')} />
          )}
        </Form.Item>
        {fileRefused && error && <FileRefusal error={error} />}
        {error?.code === 'validation_error' && (
          <Alert type="error" showIcon role="alert" message={t('errors.validation_error')} style={{ marginBottom: 16 }} />
        )}
        {otherError && <Alert type="error" showIcon role="alert" message={<ErrorText error={error} />} style={{ marginBottom: 16 }} />}
        <Space style={{ marginTop: 16 }}>
          <Button type="primary" htmlType="submit" loading={save.isPending}>
            {editing ? t('common.save') : t('models.form.create')}
          </Button>
          <Button onClick={() => navigate(model ? `/models/${model.id}` : '/models')}>{t('common.cancel')}</Button>
        </Space>
      </Form>
    </Card>
  );
}

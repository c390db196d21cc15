/**
 * Guide 5.2: "Nouveau déploiement" (or "Déployer" from a model: `?model_id=`, the
 * model prefilled and fixed) and "Modifier" (the same form, prefilled).
 */
import { useEffect, useState } from 'react';
import { Alert, Button, Card, Divider, Form, Input, InputNumber, Select, Space, Typography } from 'antd';
import { useLocation, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import { ErrorText } from '../../components/ErrorText';
import type { Deployment, DeploymentWrite } from '../../api/types';
import { toParameters, type KeyValueRow } from '../../components/KeyValueEditor';
import { ErrorState, Loading } from '../../components/QueryState';
import { RESOURCE_FIELDS, ResourceFormItems, resourceServerErrors, useResourceLimits } from '../../components/Resources';
import { useDeployment, useSaveDeployment, useUploadInput } from './api';
import { JITTER_S, MAX_CONCURRENT, MISFIRE_POLICIES, checkRunnerParameters } from './constants';
import { InputDropZone, InputSummary, inputOf } from './InputDataset';
import { ModelSelect } from './ModelSelect';
import { ParametersField, toRows } from './ParametersField';
import { ScheduleFields } from './ScheduleFields';

interface Values {
  name: string;
  description?: string;
  model_id?: string;
  parameters: KeyValueRow[];
  schedule?: string;
  timezone: string;
  misfire_policy: string;
  max_concurrent: number;
  jitter_s: number;
  memory_mb?: number | null;
  timeout_s?: number | null;
}

const FIELDS: (keyof Values)[] = ['name', 'description', 'model_id', 'parameters', 'schedule', 'timezone', 'misfire_policy', 'max_concurrent', 'jitter_s', 'memory_mb', 'timeout_s'];

/** What a creation whose dataset was refused hands to the edit page (history state). */
interface CreatedState {
  inputError?: { status: number; code: string; message: string; details: Record<string, unknown> };
}

export default function DeploymentFormPage() {
  const { deploymentId } = useParams();
  const existing = useDeployment(deploymentId ?? '');
  if (!deploymentId) return <DeploymentForm />;
  if (existing.isPending) return <Loading />;
  if (existing.error || !existing.data) return <ErrorState error={existing.error} onRetry={() => void existing.refetch()} />;
  // keyed: after a creation whose dataset was refused, the same route element goes on
  // editing; a fresh form reads the verdict handed over in the history state
  return <DeploymentForm key={existing.data.id} deployment={existing.data} />;
}

function DeploymentForm({ deployment }: { deployment?: Deployment }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const location = useLocation();
  const [searchParams] = useSearchParams();
  const [form] = Form.useForm<Values>();
  const save = useSaveDeployment();
  const upload = useUploadInput();
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const limits = useResourceLimits();
  const editing = Boolean(deployment);
  const fixedModel = editing ? undefined : searchParams.get('model_id') ?? undefined;
  const created = (location.state as CreatedState | null)?.inputError;
  const [inputError] = useState<ApiError | null>(() =>
    created ? new ApiError(created.status, created.code, created.message, created.details) : null,
  );

  useEffect(() => {
    if (!deployment) return;
    form.setFieldsValue({
      name: deployment.name,
      description: deployment.description ?? '',
      model_id: deployment.model_id,
      parameters: toRows(deployment.parameters as Record<string, unknown> | undefined),
      schedule: deployment.schedule ?? '',
      timezone: deployment.timezone ?? 'UTC',
      misfire_policy: deployment.misfire_policy ?? 'run_once',
      max_concurrent: deployment.max_concurrent ?? 1,
      jitter_s: deployment.jitter_s ?? 0,
      memory_mb: deployment.memory_mb ?? null,
      timeout_s: deployment.timeout_s ?? null,
    });
  }, [form, deployment]);

  const onFinish = async (values: Values) => {
    setError(null);
    const parameters = toParameters(values.parameters ?? []);
    if (Object.keys(checkRunnerParameters(parameters)).length) {
      form.setFields([{ name: 'parameters', errors: [t('deployments.params.fix_first')] }]);
      return;
    }
    const data: Partial<DeploymentWrite> = {
      name: values.name.trim(),
      description: values.description?.trim() || (editing ? '' : undefined),
      model_id: values.model_id,
      parameters,
      schedule: values.schedule?.trim() || null,
      timezone: values.timezone || 'UTC',
      misfire_policy: values.misfire_policy as DeploymentWrite['misfire_policy'],
      max_concurrent: values.max_concurrent,
      jitter_s: values.jitter_s,
      memory_mb: values.memory_mb ?? null,
      timeout_s: values.timeout_s ?? null,
    };
    let saved: Deployment;
    try {
      saved = await save.mutateAsync({ id: deployment?.id, data });
    } catch (caught) {
      if (!(caught instanceof ApiError)) throw caught;
      setError(caught);
      const fields = caught.fieldErrors();
      const byField = new Map<keyof Values, string[]>();
      for (const [name, messages] of Object.entries(fields)) {
        const field = (name.startsWith('parameters') ? 'parameters' : name) as keyof Values;
        if (FIELDS.includes(field)) byField.set(field, [...(byField.get(field) ?? []), ...messages]);
      }
      if (caught.status === 409) byField.set('model_id', [t('deployments.form.model_not_ready', { reason: caught.message })]);
      // A ceiling may have dropped since the form was opened: say it in French with today's.
      const refused = resourceServerErrors(caught, t, (await limits.refetch()).data ?? limits.data);
      for (const field of RESOURCE_FIELDS) if (refused[field]) byField.set(field, [refused[field]]);
      form.setFields([...byField].map(([name, errors]) => ({ name, errors })));
      return;
    }
    if (file && !editing) {
      setProgress(0);
      try {
        await upload.mutateAsync({ id: saved.id, file, onProgress: setProgress });
      } catch (caught) {
        // The deployment exists: go on editing it, with the dataset's verdict shown.
        const refused = caught instanceof ApiError ? caught : new ApiError(0, 'unknown', '');
        const state: CreatedState = {
          inputError: { status: refused.status, code: refused.code, message: refused.message, details: refused.details },
        };
        navigate(`/deployments/${saved.id}/edit`, { replace: true, state });
        return;
      }
    }
    navigate(`/deployments/${saved.id}`);
  };

  const otherError = error && error.code !== 'validation_error' && error.status !== 409;
  const busy = save.isPending || upload.isPending;

  return (
    <Card>
      <Typography.Title level={2} style={{ marginTop: 0 }}>
        {editing ? t('deployments.form.edit_title', { name: deployment?.name }) : t('deployments.add')}
      </Typography.Title>
      {inputError && (
        <Alert type="warning" showIcon role="alert" style={{ marginBottom: 16 }} message={t('deployments.form.created_input_refused')} />
      )}
      <Form<Values>
        form={form}
        layout="vertical"
        style={{ maxWidth: 760 }}
        initialValues={{
          model_id: fixedModel,
          parameters: [],
          schedule: '',
          timezone: 'UTC',
          misfire_policy: 'run_once',
          max_concurrent: 1,
          jitter_s: 0,
        }}
        onFinish={onFinish}
        scrollToFirstError
      >
        <Form.Item name="name" label={t('deployments.fields.name')} rules={[{ required: true, whitespace: true, message: t('validation.required') }]}>
          <Input maxLength={200} />
        </Form.Item>
        <Form.Item name="description" label={t('deployments.fields.description')}>
          <Input.TextArea rows={3} maxLength={5000} />
        </Form.Item>
        <Form.Item
          name="model_id"
          label={t('deployments.fields.model')}
          extra={fixedModel ? t('deployments.form.model_fixed') : t('deployments.form.model_help')}
          rules={[{ required: true, message: t('deployments.form.model_required') }]}
        >
          <ModelSelect readyOnly disabled={Boolean(fixedModel)} />
        </Form.Item>
        <Form.Item name="parameters" label={t('deployments.fields.parameters')} extra={t('deployments.params.help')}>
          <ParametersField />
        </Form.Item>
        <Divider orientation="left" plain>
          {t('deployments.fields.schedule')}
        </Divider>
        <ScheduleFields form={form} />
        <Space size="large" wrap align="start">
          <Form.Item name="misfire_policy" label={t('deployments.fields.misfire_policy')} style={{ minWidth: 300 }} extra={t('deployments.misfire.help')}>
            <Select options={MISFIRE_POLICIES.map((value) => ({ value, label: t(`deployments.misfire.${value}`) }))} />
          </Form.Item>
          <Form.Item name="max_concurrent" label={t('deployments.fields.max_concurrent')} extra={t('deployments.form.max_concurrent_help')}>
            <InputNumber min={MAX_CONCURRENT.min} max={MAX_CONCURRENT.max} precision={0} />
          </Form.Item>
          <Form.Item name="jitter_s" label={t('deployments.fields.jitter_s')} extra={t('deployments.form.jitter_help')}>
            <InputNumber min={JITTER_S.min} max={JITTER_S.max} precision={0} />
          </Form.Item>
        </Space>
        <Divider orientation="left" plain>
          {t('resources.title')}
        </Divider>
        <Typography.Paragraph type="secondary">{t('resources.form_help')}</Typography.Paragraph>
        <ResourceFormItems limits={limits.data} />
        <Divider orientation="left" plain>
          {t('deployments.fields.input')}
        </Divider>
        {deployment ? (
          <Form.Item label={t('deployments.input.current')}>
            <InputSummary input={inputOf(deployment)} />
            <div style={{ marginTop: 12 }}>
              <InputDropZone deploymentId={deployment.id} error={inputError} />
            </div>
          </Form.Item>
        ) : (
          <Form.Item label={t('deployments.fields.input')} extra={t('deployments.input.help')}>
            <InputDropZone file={file} onSelect={setFile} progress={progress} error={null} />
          </Form.Item>
        )}
        {error?.code === 'validation_error' && (
          <Alert type="error" showIcon role="alert" message={t('errors.validation_error')} style={{ marginBottom: 16 }} />
        )}
        {otherError && <Alert type="error" showIcon role="alert" message={<ErrorText error={error} />} style={{ marginBottom: 16 }} />}
        <Space style={{ marginTop: 16 }}>
          <Button type="primary" htmlType="submit" loading={busy}>
            {editing ? t('common.save') : t('deployments.form.create')}
          </Button>
          <Button onClick={() => navigate(deployment ? `/deployments/${deployment.id}` : '/deployments')}>{t('common.cancel')}</Button>
        </Space>
      </Form>
    </Card>
  );
}

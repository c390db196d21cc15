/** Creation / edit of an integration, in a dialog. The API's refusal of a URL (SSRF check)
 * and every other field error are shown next to their field, in French. */
import { useState } from 'react';
import { Alert, Checkbox, Col, Form, Input, Modal, Row, Switch } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import { errorMessage } from '../../api/errors';
import {
  WEBHOOK_EVENTS,
  useCreateIntegration,
  useUpdateIntegration,
  type Integration,
  type IntegrationCreated,
  type IntegrationWrite,
} from './api';
import { fieldReason, urlReason } from './messages';

interface Values {
  name: string;
  url: string;
  events: IntegrationWrite['events'];
  department?: string;
  description?: string;
  active: boolean;
}
const FIELDS = ['name', 'url', 'events', 'department', 'description', 'active'];

interface Props {
  integration: Integration | null;
  onClose: () => void;
  onCreated: (created: IntegrationCreated) => void;
  onSaved: (saved: Integration) => void;
}

export function IntegrationFormDialog({ integration, onClose, onCreated, onSaved }: Props) {
  const { t } = useTranslation();
  const [form] = Form.useForm<Values>();
  const [error, setError] = useState<string | null>(null);
  const create = useCreateIntegration();
  const update = useUpdateIntegration();
  const editing = integration !== null;

  const submit = async (values: Values) => {
    setError(null);
    const data: IntegrationWrite = {
      name: values.name.trim(),
      url: values.url.trim(),
      events: values.events,
      department: values.department?.trim() || null,
      active: values.active,
    };
    if (values.description?.trim()) data.description = values.description.trim();
    try {
      if (editing) {
        onSaved(await update.mutateAsync({ id: integration.id, changes: data }));
      } else {
        onCreated(await create.mutateAsync(data));
      }
    } catch (caught) {
      if (!(caught instanceof ApiError)) throw caught;
      const fields = Object.entries(caught.fieldErrors()).filter(([name]) => FIELDS.includes(name));
      form.setFields(
        fields.map(([name, errors]) => ({
          name: name as keyof Values,
          errors: errors.map((text) => (name === 'url' ? urlReason(text, t) : fieldReason(text, t))),
        })),
      );
      if (fields.length === 0) setError(errorMessage(caught, t));
    }
  };

  const initial: Values = integration
    ? {
        name: integration.name,
        url: integration.url ?? '',
        events: integration.events ?? [],
        department: integration.department ?? undefined,
        description: integration.description ?? undefined,
        active: integration.active ?? true,
      }
    : { name: '', url: '', events: [], active: true };

  return (
    <Modal
      open
      width={640}
      title={t(editing ? 'integrations.edit_title' : 'integrations.create_title')}
      okText={t(editing ? 'common.save' : 'integrations.create')}
      cancelText={t('common.cancel')}
      confirmLoading={create.isPending || update.isPending}
      onOk={() => form.submit()}
      onCancel={onClose}
      destroyOnHidden
    >
      {error && <Alert type="error" showIcon role="alert" message={error} style={{ marginBottom: 16 }} />}
      <Form<Values> form={form} layout="vertical" onFinish={(values) => void submit(values)} initialValues={initial} requiredMark>
        <Form.Item name="name" label={t('integrations.fields.name')} rules={[{ required: true, whitespace: true, message: t('validation.required') }]}>
          <Input maxLength={200} autoComplete="off" />
        </Form.Item>
        <Form.Item
          name="url"
          label={t('integrations.fields.url')}
          extra={t('integrations.url_help')}
          rules={[
            { required: true, whitespace: true, message: t('validation.required') },
            { pattern: /^\s*https?:\/\//i, message: t('integrations.url_errors.scheme') },
          ]}
        >
          <Input maxLength={2000} autoComplete="off" placeholder={t('integrations.url_placeholder')} />
        </Form.Item>
        <Form.Item
          name="events"
          label={t('integrations.fields.events')}
          // A validator, not `required`: antd would put aria-required on the group, which
          // ARIA does not allow there (axe: aria-allowed-attr).
          rules={[
            {
              validator: (_, value: unknown[] | undefined) =>
                value?.length ? Promise.resolve() : Promise.reject(new Error(t('integrations.events_required'))),
            },
          ]}
        >
          <Checkbox.Group style={{ width: '100%' }}>
            <Row gutter={[8, 8]}>
              {WEBHOOK_EVENTS.map((event) => (
                <Col span={12} key={event}>
                  <Checkbox value={event}>{t(`integrations.events.${event}`)}</Checkbox>
                </Col>
              ))}
            </Row>
          </Checkbox.Group>
        </Form.Item>
        <Form.Item name="department" label={t('integrations.fields.department')} extra={t('integrations.department_help')}>
          <Input maxLength={200} autoComplete="off" />
        </Form.Item>
        <Form.Item name="description" label={t('integrations.fields.description')}>
          <Input.TextArea rows={2} maxLength={2000} />
        </Form.Item>
        <Form.Item name="active" label={t('integrations.fields.active')} valuePropName="checked">
          <Switch />
        </Form.Item>
      </Form>
    </Modal>
  );
}

/** « Paramètres globaux » (guide 8.2): every setting GET /admin/settings returns, in
 * groups with French labels and help; only the changed ones are sent; a refusal (400) is
 * shown next to the field it names. Settings this screen does not know yet (added by a
 * later service) still appear, under their API name. */
import { useEffect, useMemo, useState } from 'react';
import { Alert, Button, Card, Form, Input, InputNumber, Select, Space, Switch, Typography, message as antMessage } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import { errorMessage } from '../../api/errors';
import { QueryState } from '../../components/QueryState';
import { TimeZoneSelect } from '../deployments/TimeZoneSelect';
import { useSaveSettings, useSettings, type SettingValue } from './api';
import { settingReason } from './messages';

type Kind = 'timezone' | 'number' | 'hosts';
/** The known settings, grouped as the screen shows them. */
export const GROUPS: { key: string; settings: [string, Kind][] }[] = [
  { key: 'executions', settings: [['default_timezone', 'timezone'], ['default_execution_timeout_s', 'number'], ['max_execution_timeout_s', 'number']] },
  { key: 'resources', settings: [['max_memory_mb', 'number'], ['max_upload_mb', 'number']] },
  { key: 'retention', settings: [['retention_days', 'number'], ['log_retention_days', 'number'], ['result_retention_days', 'number']] },
  { key: 'login', settings: [['login_max_failures', 'number'], ['login_lockout_s', 'number']] },
  { key: 'webhooks', settings: [['webhook_allowed_hosts', 'hosts']] },
];
const KNOWN = new Set(GROUPS.flatMap((group) => group.settings.map(([name]) => name)));

type Values = Record<string, SettingValue>;

const same = (a: SettingValue | undefined, b: SettingValue | undefined) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** What changed between the loaded settings and the form (what the PUT sends). */
export function changes(loaded: Values, values: Values): Values {
  const out: Values = {};
  for (const [key, value] of Object.entries(values)) {
    if (!(key in loaded)) continue;
    const next = Array.isArray(value) ? value.map((item) => item.trim()).filter(Boolean) : value;
    if (!same(loaded[key], next)) out[key] = next;
  }
  return out;
}

function Field({ name, kind, label, help }: { name: string; kind: Kind | 'text' | 'boolean'; label: string; help?: string }) {
  const { t } = useTranslation();
  const common = { name, label, extra: help };
  if (kind === 'timezone') {
    return (
      <Form.Item {...common} rules={[{ required: true, message: t('validation.required') }]}>
        <TimeZoneSelect aria-label={label} />
      </Form.Item>
    );
  }
  if (kind === 'hosts') {
    return (
      <Form.Item {...common}>
        <Select mode="tags" tokenSeparators={[',', ' ']} open={false} suffixIcon={null} aria-label={label} placeholder={t('settings.hosts_placeholder')} />
      </Form.Item>
    );
  }
  if (kind === 'boolean') {
    return (
      <Form.Item {...common} valuePropName="checked">
        <Switch />
      </Form.Item>
    );
  }
  if (kind === 'text') {
    return (
      <Form.Item {...common}>
        <Input />
      </Form.Item>
    );
  }
  return (
    <Form.Item {...common} rules={[{ required: true, message: t('validation.required') }]}>
      <InputNumber style={{ width: 220 }} />
    </Form.Item>
  );
}

function SettingsForm({ loaded }: { loaded: Values }) {
  const { t } = useTranslation();
  const [form] = Form.useForm<Values>();
  const [message, messageHolder] = antMessage.useMessage();
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const save = useSaveSettings();
  const others = useMemo(() => Object.keys(loaded).filter((key) => !KNOWN.has(key) && typeof loaded[key] !== 'object'), [loaded]);
  const otherLists = useMemo(() => Object.keys(loaded).filter((key) => !KNOWN.has(key) && Array.isArray(loaded[key])), [loaded]);

  useEffect(() => form.setFieldsValue(loaded), [form, loaded]);

  const submit = async (values: Values) => {
    setError(null);
    setSaved(false);
    const changed = changes(loaded, values);
    if (!Object.keys(changed).length) {
      void message.info(t('settings.no_change'));
      return;
    }
    try {
      await save.mutateAsync(changed);
      setSaved(true);
    } catch (caught) {
      if (!(caught instanceof ApiError)) throw caught;
      const fields = Object.entries(caught.fieldErrors()).filter(([name]) => name in loaded);
      form.setFields(fields.map(([name, errors]) => ({ name, errors: errors.map((text) => settingReason(text, t)) })));
      setError(fields.length ? t('settings.refused') : errorMessage(caught, t));
    }
  };

  const label = (name: string) => t(`settings.fields.${name}.label`, { defaultValue: name });
  const help = (name: string) => t(`settings.fields.${name}.help`, { defaultValue: '' }) || undefined;

  return (
    <Form<Values> form={form} layout="vertical" onFinish={(values) => void submit(values)} onValuesChange={() => setSaved(false)} initialValues={loaded} scrollToFirstError>
      {messageHolder}
      <Space direction="vertical" size="middle" style={{ width: '100%', maxWidth: 860 }}>
        {GROUPS.map((group) => {
          const present = group.settings.filter(([name]) => name in loaded);
          if (!present.length) return null;
          return (
            <Card key={group.key} title={t(`settings.groups.${group.key}`)} size="small">
              {present.map(([name, kind]) => (
                <Field key={name} name={name} kind={kind} label={label(name)} help={help(name)} />
              ))}
            </Card>
          );
        })}
        {others.length + otherLists.length > 0 && (
          <Card title={t('settings.groups.other')} size="small">
            {others.map((name) => (
              <Field
                key={name}
                name={name}
                kind={typeof loaded[name] === 'number' ? 'number' : typeof loaded[name] === 'boolean' ? 'boolean' : 'text'}
                label={label(name)}
                help={help(name)}
              />
            ))}
            {otherLists.map((name) => (
              <Field key={name} name={name} kind="hosts" label={label(name)} help={help(name)} />
            ))}
          </Card>
        )}
        {error && <Alert type="error" showIcon role="alert" message={error} />}
        {saved && <Alert type="success" showIcon role="status" message={t('settings.saved')} />}
        <Button type="primary" htmlType="submit" loading={save.isPending}>
          {t('common.save')}
        </Button>
      </Space>
    </Form>
  );
}

export default function SettingsPage() {
  const { t } = useTranslation();
  const query = useSettings();
  return (
    <div>
      <Typography.Title level={2} style={{ marginTop: 0 }}>
        {t('settings.title')}
      </Typography.Title>
      <Typography.Paragraph>{t('settings.intro')}</Typography.Paragraph>
      <QueryState query={query}>{(loaded) => <SettingsForm loaded={loaded} />}</QueryState>
    </div>
  );
}

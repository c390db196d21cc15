/**
 * "Planification" in the form: the cron expression with its meaning in words as
 * you type, the time zone, and the next five run times the API computes for that
 * expression, shown in the chosen zone. The API's verdict on the expression (400
 * details) is put next to the field.
 */
import { useEffect } from 'react';
import { Alert, Form, Input, List, Space, Spin, Typography } from 'antd';
import type { FormInstance } from 'antd';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../../api/client';
import { ErrorText } from '../../components/ErrorText';
import { DateTime } from '../../components/DateTime';
import { useDebounced } from '../../components/useDebounced';
import { describeCron } from '../../i18n/cron';
import { useExpressionPreview } from './api';
import { cronFieldCount } from './constants';
import { TimeZoneSelect } from './TimeZoneSelect';

/** The i18n key of what is wrong with an expression (client side), or null. */
export function cronProblem(expression: string | undefined, language: string): { key: string; count?: number } | null {
  const text = (expression ?? '').trim();
  if (!text) return null;
  const count = cronFieldCount(text);
  if (count !== 5) return { key: 'deployments.schedule.five_fields', count };
  return describeCron(text, language) ? null : { key: 'deployments.schedule.invalid' };
}

export function NextRuns({ runs, timeZone }: { runs: { utc?: string }[]; timeZone: string }) {
  const { t } = useTranslation();
  return (
    <List
      size="small"
      data-testid="next-runs"
      aria-label={t('deployments.schedule.next_runs', { zone: timeZone })}
      header={<Typography.Text strong>{t('deployments.schedule.next_runs', { zone: timeZone })}</Typography.Text>}
      dataSource={runs}
      locale={{ emptyText: t('deployments.schedule.no_next_runs') }}
      renderItem={(run) => (
        <List.Item>
          <DateTime value={run.utc} timeZone={timeZone} />
        </List.Item>
      )}
    />
  );
}

export function ScheduleFields({ form }: { form: FormInstance }) {
  const { t, i18n } = useTranslation();
  const schedule = (Form.useWatch('schedule', form) as string | undefined) ?? '';
  const timezone = (Form.useWatch('timezone', form) as string | undefined) ?? 'UTC';
  const typed = useDebounced(schedule.trim(), 300);
  const problem = cronProblem(typed, i18n.language);
  const preview = useExpressionPreview(typed, timezone, !problem);
  const words = schedule.trim() && !cronProblem(schedule, i18n.language) ? describeCron(schedule.trim(), i18n.language) : null;
  const apiError = preview.error instanceof ApiError ? preview.error : null;
  const fieldErrors = apiError?.fieldErrors() ?? {};

  // The API's 400 on the expression or the zone goes next to its field.
  useEffect(() => {
    if (!apiError) return;
    const fields = (['schedule', 'timezone'] as const).filter((name) => fieldErrors[name]?.length);
    form.setFields(
      fields.map((name) => ({
        name,
        errors: [t(`deployments.schedule.api_${name}`, { detail: fieldErrors[name].join(' ; ') })],
      })),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [apiError]);

  return (
    <div>
      <Form.Item
        name="schedule"
        label={t('deployments.fields.schedule')}
        validateTrigger="onChange"
        extra={
          <div aria-live="polite">
            {words ? (
              <Typography.Text data-testid="cron-words">
                {t('deployments.schedule.words')} <strong>{words}</strong>
              </Typography.Text>
            ) : schedule.trim() ? null : (
              t('deployments.schedule.help')
            )}
          </div>
        }
        rules={[
          {
            validator: (_, value: string | undefined) => {
              const found = cronProblem(value, i18n.language);
              return found ? Promise.reject(new Error(t(found.key, { count: found.count }))) : Promise.resolve();
            },
          },
        ]}
      >
        <Input placeholder={t('deployments.schedule.placeholder')} maxLength={200} style={{ maxWidth: 320, fontFamily: 'monospace' }} />
      </Form.Item>
      <Form.Item name="timezone" label={t('deployments.fields.timezone')} extra={t('deployments.schedule.timezone_help')}>
        <TimeZoneSelect />
      </Form.Item>
      {typed && !problem && (
        <div style={{ maxWidth: 420, marginBottom: 24 }}>
          {preview.isFetching && !preview.data ? (
            <Space>
              <Spin size="small" />
              <Typography.Text type="secondary">{t('deployments.schedule.previewing')}</Typography.Text>
            </Space>
          ) : preview.data ? (
            <NextRuns runs={preview.data.next_runs ?? []} timeZone={preview.data.timezone ?? timezone} />
          ) : apiError && !Object.keys(fieldErrors).length ? (
            <Alert type="error" showIcon role="alert" message={<ErrorText error={apiError} />} />
          ) : null}
        </div>
      )}
    </div>
  );
}

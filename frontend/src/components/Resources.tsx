/**
 * Resources of a deployment or a run (guide 10.3 « Ajustez les ressources allouées au
 * déploiement »): "Mémoire (Mo)" and "Délai maximal (s)", with the ceilings of the
 * global settings as help and validation. The ceilings come from `GET /resource-limits`
 * (readable by every role; `/admin/settings` is for admins only), and the API refuses a
 * value above them with a 400 naming the field.
 */
import { Descriptions, Form, InputNumber, Space, Typography } from 'antd';
import type { Rule } from 'antd/es/form';
import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
import { apiFetch, ApiError } from '../api/client';
import type { ResourceLimits } from '../api/types';

export const RESOURCE_FIELDS = ['memory_mb', 'timeout_s'] as const;
export type ResourceField = (typeof RESOURCE_FIELDS)[number];
export type ResourceValues = Partial<Record<ResourceField, number | null>>;

export function useResourceLimits() {
  return useQuery({
    queryKey: ['resource-limits'],
    queryFn: ({ signal }) => apiFetch<ResourceLimits>('/resource-limits', { signal }),
    staleTime: 30_000,
  });
}

function bounds(field: ResourceField, limits?: ResourceLimits) {
  return field === 'memory_mb'
    ? { min: limits?.min_memory_mb ?? 64, max: limits?.max_memory_mb, fallback: limits?.default_memory_mb }
    : { min: limits?.min_timeout_s ?? 1, max: limits?.max_timeout_s, fallback: limits?.default_timeout_s };
}

/** The French message of an out-of-range (or not whole) value of `field`. */
export function resourceError(field: ResourceField, value: unknown, t: TFunction, limits?: ResourceLimits): string | null {
  if (value === null || value === undefined || value === '') return null;
  const { min, max } = bounds(field, limits);
  if (typeof value !== 'number' || !Number.isInteger(value)) return t('resources.whole_number');
  if (value < min || (max !== undefined && value > max)) {
    return max !== undefined ? t(`resources.${field}_range`, { min, max }) : t(`resources.${field}_min`, { min });
  }
  return null;
}

/** The API's 400 on a resource field, said in French next to the field. */
export function resourceServerErrors(error: ApiError | null, t: TFunction, limits?: ResourceLimits): Partial<Record<ResourceField, string>> {
  const out: Partial<Record<ResourceField, string>> = {};
  if (!error) return out;
  const fields = error.fieldErrors();
  for (const field of RESOURCE_FIELDS) {
    if (!fields[field]) continue;
    const { min, max } = bounds(field, limits);
    out[field] = max !== undefined ? t(`resources.${field}_range`, { min, max }) : fields[field].join(' ');
  }
  return out;
}

function help(field: ResourceField, t: TFunction, limits?: ResourceLimits) {
  const { min, max, fallback } = bounds(field, limits);
  if (max === undefined) return undefined;
  return t(`resources.${field}_help`, { min, max, default: fallback });
}

/** The two fields inside an antd `Form` (names `memory_mb`, `timeout_s`). */
export function ResourceFormItems({ limits }: { limits?: ResourceLimits }) {
  const { t } = useTranslation();
  const rule = (field: ResourceField): Rule => ({
    validator: (_rule, value) => {
      const problem = resourceError(field, value, t, limits);
      return problem ? Promise.reject(new Error(problem)) : Promise.resolve();
    },
  });
  return (
    <Space size="large" wrap align="start">
      {RESOURCE_FIELDS.map((field) => (
        <Form.Item key={field} name={field} label={t(`resources.${field}`)} extra={help(field, t, limits)} rules={[rule(field)]} style={{ minWidth: 260 }}>
          <InputNumber<number> style={{ width: 200 }} placeholder={placeholder(field, t, limits)} />
        </Form.Item>
      ))}
    </Space>
  );
}

function placeholder(field: ResourceField, t: TFunction, limits?: ResourceLimits) {
  const { fallback } = bounds(field, limits);
  return fallback !== undefined ? t('resources.default_value', { value: fallback }) : undefined;
}

/** The two fields, controlled (the run dialog's optional override). */
export function ResourceInputs({
  value,
  onChange,
  limits,
  errors,
}: {
  value: ResourceValues;
  onChange: (next: ResourceValues) => void;
  limits?: ResourceLimits;
  errors?: Partial<Record<ResourceField, string>>;
}) {
  const { t } = useTranslation();
  return (
    <Space size="large" wrap align="start">
      {RESOURCE_FIELDS.map((field) => {
        const problem = resourceError(field, value[field], t, limits) ?? errors?.[field] ?? null;
        const id = `run-resource-${field}`;
        return (
          <div key={field} style={{ minWidth: 240 }}>
            <label htmlFor={id} style={{ display: 'block', marginBottom: 4 }}>
              {t(`resources.${field}`)}
            </label>
            <InputNumber<number>
              id={id}
              style={{ width: 200 }}
              status={problem ? 'error' : undefined}
              value={value[field] ?? null}
              placeholder={placeholder(field, t, limits)}
              aria-describedby={`${id}-help`}
              onChange={(next) => onChange({ ...value, [field]: next })}
            />
            <div id={`${id}-help`}>
              {problem ? (
                <Typography.Text type="danger" role="alert">
                  {problem}
                </Typography.Text>
              ) : (
                <Typography.Text type="secondary">{help(field, t, limits)}</Typography.Text>
              )}
            </div>
          </div>
        );
      })}
    </Space>
  );
}

/** True when every given value is acceptable (empty = the default). */
export function resourcesValid(value: ResourceValues, t: TFunction, limits?: ResourceLimits) {
  return RESOURCE_FIELDS.every((field) => resourceError(field, value[field], t, limits) === null);
}

/** "Mémoire (Mo)" / "Délai maximal (s)" of a saved deployment (null = the default). */
export function ResourceSummary({ value, testId }: { value: ResourceValues; testId?: string }) {
  const { t, i18n } = useTranslation();
  const limits = useResourceLimits().data;
  const show = (field: ResourceField) => {
    const given = value[field];
    if (given != null) return given.toLocaleString(i18n.language);
    const { fallback } = bounds(field, limits);
    return fallback !== undefined ? t('resources.default_value', { value: fallback.toLocaleString(i18n.language) }) : t('resources.default');
  };
  return (
    <Descriptions column={{ xs: 1, md: 2 }} size="small" data-testid={testId}>
      {RESOURCE_FIELDS.map((field) => (
        <Descriptions.Item key={field} label={t(`resources.${field}`)}>
          {show(field)}
        </Descriptions.Item>
      ))}
    </Descriptions>
  );
}

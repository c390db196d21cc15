/** « Journal d'audit »: every change on the platform, newest first, paged by the server;
 * filters user / object type / object id / period kept in the URL; « Exporter » downloads
 * the same filtered trail as CSV. Read only: nothing here edits an entry. */
import { useEffect, useState } from 'react';
import { Button, DatePicker, Flex, Input, Select, Space, Typography, message as antMessage } from 'antd';
import { DownloadOutlined } from '@ant-design/icons';
import dayjs, { type Dayjs } from 'dayjs';
import { Link } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { errorMessage } from '../../api/errors';
import { DataTable, type Column } from '../../components/DataTable';
import { DateTime } from '../../components/DateTime';
import { ErrorState } from '../../components/QueryState';
import { useDebounced } from '../../components/useDebounced';
import { useUrlState } from '../../components/useUrlState';
import { exportAudit, useAudit, type AuditEntry, type AuditFilters } from './api';

export const OBJECT_TYPES = ['model', 'deployment', 'execution', 'user', 'settings', 'integration', 'reports', 'backup', 'restore'];

const DEFAULTS = {
  user: undefined as string | undefined,
  object_type: undefined as string | undefined,
  object_id: undefined as string | undefined,
  from: undefined as string | undefined,
  to: undefined as string | undefined,
  page: 1,
  per_page: 20,
};

/** Where an audited object is shown in the app (models, deployments, executions, users). */
export function objectLink(type: string | null | undefined, id: string | null | undefined): string | null {
  if (!type || !id) return null;
  const safe = encodeURIComponent(id);
  switch (type) {
    case 'model':
      return `/models/${safe}`;
    case 'deployment':
      return `/deployments/${safe}`;
    case 'execution':
      return `/executions/${safe}`;
    case 'user':
      return '/users';
    default:
      return null;
  }
}

function TextFilter({ value, label, width, onChange }: { value?: string; label: string; width: number; onChange: (value?: string) => void }) {
  const [text, setText] = useState(value ?? '');
  const debounced = useDebounced(text, 300);
  useEffect(() => setText(value ?? ''), [value]);
  useEffect(() => {
    if ((debounced.trim() || undefined) !== value) onChange(debounced.trim() || undefined);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debounced]);
  return <Input allowClear style={{ width }} placeholder={label} aria-label={label} value={text} onChange={(event) => setText(event.target.value)} />;
}

export default function AuditPage() {
  const { t } = useTranslation();
  const [state, setState] = useUrlState(DEFAULTS);
  const [message, messageHolder] = antMessage.useMessage();
  const [exporting, setExporting] = useState(false);
  const filters: AuditFilters = { user: state.user, object_type: state.object_type, object_id: state.object_id, from: state.from, to: state.to };
  const query = useAudit({ ...filters, page: state.page, per_page: state.per_page });

  const period: [Dayjs, Dayjs] | null = state.from && state.to ? [dayjs(state.from), dayjs(state.to)] : null;

  const doExport = async () => {
    setExporting(true);
    try {
      await exportAudit(filters);
    } catch (caught) {
      void message.error(errorMessage(caught, t));
    } finally {
      setExporting(false);
    }
  };

  const none = t('common.none');
  const columns: Column<AuditEntry>[] = [
    { key: 'at', title: t('audit.fields.at'), render: (entry) => <DateTime value={entry.at} /> },
    { key: 'user', title: t('audit.fields.user'), render: (entry) => entry.user ?? none },
    { key: 'action', title: t('audit.fields.action'), render: (entry) => (entry.action ? t(`audit.actions.${entry.action.replace('.', '_')}`, { defaultValue: entry.action }) : none) },
    {
      key: 'object',
      title: t('audit.fields.object'),
      render: (entry) => {
        if (!entry.object_type) return none;
        const type = t(`audit.object_types.${entry.object_type}`, { defaultValue: entry.object_type });
        const link = objectLink(entry.object_type, entry.object_id);
        return (
          <Space direction="vertical" size={0}>
            <span>{type}</span>
            {entry.object_id &&
              (link ? (
                <Link to={link} aria-label={`${type} ${entry.object_id}`}>
                  <Typography.Text code>{entry.object_id}</Typography.Text>
                </Link>
              ) : (
                <Typography.Text code>{entry.object_id}</Typography.Text>
              ))}
          </Space>
        );
      },
    },
    { key: 'summary', title: t('audit.fields.summary'), render: (entry) => <span style={{ wordBreak: 'break-word' }}>{entry.summary ?? none}</span> },
    { key: 'request_id', title: t('audit.fields.request_id'), render: (entry) => (entry.request_id ? <Typography.Text code>{entry.request_id}</Typography.Text> : none) },
    { key: 'client', title: t('audit.fields.client'), render: (entry) => entry.client ?? none },
  ];

  return (
    <div>
      {messageHolder}
      <Flex justify="space-between" align="center" style={{ marginBottom: 16 }}>
        <Typography.Title level={2} style={{ margin: 0 }}>
          {t('audit.title')}
        </Typography.Title>
        <Button icon={<DownloadOutlined />} loading={exporting} onClick={() => void doExport()}>
          {t('audit.export')}
        </Button>
      </Flex>
      <Typography.Paragraph>{t('audit.intro')}</Typography.Paragraph>
      <Space wrap style={{ marginBottom: 16 }} role="search">
        <TextFilter value={state.user} label={t('audit.fields.user')} width={200} onChange={(user) => setState({ user, page: 1 })} />
        <Select
          allowClear
          style={{ width: 200 }}
          placeholder={t('audit.fields.object_type')}
          aria-label={t('audit.fields.object_type')}
          value={state.object_type}
          options={[...OBJECT_TYPES, ...(state.object_type && !OBJECT_TYPES.includes(state.object_type) ? [state.object_type] : [])].map((type) => ({
            value: type,
            label: t(`audit.object_types.${type}`, { defaultValue: type }),
          }))}
          onChange={(object_type) => setState({ object_type, page: 1 })}
        />
        <TextFilter value={state.object_id} label={t('audit.fields.object_id')} width={260} onChange={(object_id) => setState({ object_id, page: 1 })} />
        <DatePicker.RangePicker
          aria-label={t('audit.fields.period')}
          placeholder={[t('audit.period_from'), t('audit.period_to')]}
          value={period}
          onChange={(range) =>
            setState({
              from: range?.[0] ? range[0].startOf('day').toISOString() : undefined,
              to: range?.[1] ? range[1].endOf('day').toISOString() : undefined,
              page: 1,
            })
          }
        />
      </Space>
      {query.error ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <DataTable<AuditEntry>
          testId="audit-table"
          columns={columns}
          rows={query.data?.items}
          rowKey={(entry) => entry.id}
          loading={query.isFetching}
          empty={t('audit.empty')}
          page={state.page}
          perPage={state.per_page}
          total={query.data?.total ?? 0}
          onPage={(page, perPage) => setState({ page, per_page: perPage })}
          totalText={(total) => t('audit.total', { count: total })}
        />
      )}
    </div>
  );
}

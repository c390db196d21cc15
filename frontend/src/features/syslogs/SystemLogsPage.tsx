/** Guide 8.2 « Journaux système »: the log lines of every service, newest first, filtered
 * by service, level (that level and above), text, request id and period — all in the
 * URL, so a link (e.g. from an error's request id) opens the same view. « Suivre en
 * direct » polls for the lines stored since the newest one shown and puts them on top. */
import { useEffect, useMemo, useRef, useState } from 'react';
import { Alert, DatePicker, Input, Select, Space, Switch, Tag } from 'antd';
import dayjs, { type Dayjs } from 'dayjs';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router-dom';
import { DataTable, type Column } from '../../components/DataTable';
import { DateTime } from '../../components/DateTime';
import { ErrorState } from '../../components/QueryState';
import { ErrorText } from '../../components/ErrorText';
import { useDebounced } from '../../components/useDebounced';
import { useUrlState } from '../../components/useUrlState';
import { fetchSystemLogs, LEVELS, mergeNewest, SERVICES, useSystemLogs, type SystemLog } from './api';

export const FOLLOW_INTERVAL_MS = 2000;

const DEFAULTS = {
  service: undefined as string | undefined,
  level: undefined as string | undefined,
  q: undefined as string | undefined,
  request_id: undefined as string | undefined,
  from: undefined as string | undefined,
  to: undefined as string | undefined,
  page: 1,
  per_page: 50,
};

/** White text on these passes WCAG AA. */
const LEVEL_COLORS: Record<string, string> = {
  DEBUG: '#595959',
  INFO: '#0958d9',
  WARNING: '#874d00',
  ERROR: '#a8071a',
  CRITICAL: '#5c0011',
};

export default function SystemLogsPage() {
  const { t } = useTranslation();
  const [state, setState] = useUrlState(DEFAULTS);
  const [search, setSearch] = useState(state.q ?? '');
  const [requestId, setRequestId] = useState(state.request_id ?? '');
  const debouncedSearch = useDebounced(search, 300);
  const debouncedRequestId = useDebounced(requestId, 300);
  const [live, setLive] = useState(false);
  const [fresh, setFresh] = useState<SystemLog[]>([]);
  const [followError, setFollowError] = useState<unknown>(null);

  useEffect(() => {
    if ((debouncedSearch || undefined) !== state.q) setState({ q: debouncedSearch || undefined, page: 1 });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debouncedSearch]);
  useEffect(() => {
    const value = debouncedRequestId.trim() || undefined;
    if (value !== state.request_id) setState({ request_id: value, page: 1 });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debouncedRequestId]);
  // A link (a request id clicked) changes the URL: the inputs follow it (not when the
  // change came from the input itself, which may have been typed on since).
  useEffect(() => {
    if ((state.request_id ?? '') !== debouncedRequestId.trim()) setRequestId(state.request_id ?? '');
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [state.request_id]);
  useEffect(() => {
    if ((state.q ?? '') !== debouncedSearch) setSearch(state.q ?? '');
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [state.q]);

  const filters = useMemo(
    () => ({ service: state.service, level: state.level, q: state.q, request_id: state.request_id, from: state.from, to: state.to }),
    [state.service, state.level, state.q, state.request_id, state.from, state.to],
  );
  const query = useSystemLogs({ ...filters, page: live ? 1 : state.page, per_page: state.per_page });
  const baseCursor = query.data?.cursor ?? null;
  const filtersKey = JSON.stringify(filters);

  // The follow: every FOLLOW_INTERVAL_MS, the lines stored after the newest one seen.
  const cursorRef = useRef<string | null>(null);
  useEffect(() => {
    setFresh([]);
    setFollowError(null);
    if (!live || query.isPending) return undefined;
    cursorRef.current = baseCursor;
    let stopped = false;
    const controller = new AbortController();
    const tick = async () => {
      try {
        const page = await fetchSystemLogs(
          { ...filters, per_page: 200, ...(cursorRef.current ? { after: cursorRef.current } : {}) },
          controller.signal,
        );
        if (stopped) return;
        if (page.cursor) cursorRef.current = page.cursor;
        if (page.items.length) setFresh((shown) => mergeNewest(page.items, shown));
        setFollowError(null);
      } catch (caught) {
        if (!stopped) setFollowError(caught);
      }
    };
    const timer = window.setInterval(() => void tick(), FOLLOW_INTERVAL_MS);
    return () => {
      stopped = true;
      controller.abort();
      window.clearInterval(timer);
    };
    // filters are in filtersKey; the base cursor restarts the follow after a reload
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live, filtersKey, baseCursor, query.isPending]);

  const rows = live ? mergeNewest(fresh, query.data?.items ?? []) : query.data?.items;
  const level = (name: string) => t(`syslogs.levels.${name}`, { defaultValue: name });

  const columns: Column<SystemLog>[] = [
    { key: 'at', title: t('syslogs.fields.at'), render: (line) => <DateTime value={line.at} /> },
    { key: 'service', title: t('syslogs.fields.service'), render: (line) => line.service },
    {
      key: 'level',
      title: t('syslogs.fields.level'),
      render: (line) => <Tag color={LEVEL_COLORS[line.level] ?? '#595959'}>{level(line.level)}</Tag>,
    },
    {
      key: 'request_id',
      title: t('syslogs.fields.request_id'),
      render: (line) =>
        line.request_id ? (
          <Link to={`/admin/logs?request_id=${encodeURIComponent(line.request_id)}`} aria-label={t('syslogs.by_request', { id: line.request_id })}>
            <code>{line.request_id}</code>
          </Link>
        ) : (
          t('common.none')
        ),
    },
    {
      key: 'message',
      title: t('syslogs.fields.message'),
      render: (line) => (
        <pre style={{ margin: 0, whiteSpace: 'pre-wrap', wordBreak: 'break-word', fontFamily: 'monospace', fontSize: 12 }}>{line.message}</pre>
      ),
    },
  ];

  const range: [Dayjs, Dayjs] | null = state.from && state.to ? [dayjs(state.from), dayjs(state.to)] : null;

  return (
    <div>
      <h2 style={{ margin: '0 0 16px', fontSize: 28, fontWeight: 600 }}>{t('syslogs.title')}</h2>
      <Space wrap style={{ marginBottom: 16 }} role="search" aria-label={t('syslogs.filters')}>
        <Select
          allowClear
          style={{ width: 180 }}
          placeholder={t('syslogs.fields.service')}
          aria-label={t('syslogs.fields.service')}
          value={state.service}
          options={SERVICES.map((name) => ({ value: name, label: name }))}
          onChange={(value) => setState({ service: value, page: 1 })}
        />
        <Select
          allowClear
          style={{ width: 200 }}
          placeholder={t('syslogs.fields.level')}
          aria-label={t('syslogs.fields.level')}
          value={state.level}
          options={LEVELS.map((name) => ({ value: name, label: t('syslogs.level_and_above', { level: level(name) }) }))}
          onChange={(value) => setState({ level: value, page: 1 })}
        />
        <Input.Search
          allowClear
          style={{ width: 280 }}
          placeholder={t('syslogs.search_placeholder')}
          aria-label={t('syslogs.search_placeholder')}
          value={search}
          onChange={(event) => setSearch(event.target.value)}
          onSearch={(value) => setSearch(value)}
        />
        <Input
          allowClear
          style={{ width: 300 }}
          placeholder={t('syslogs.fields.request_id')}
          aria-label={t('syslogs.fields.request_id')}
          value={requestId}
          onChange={(event) => setRequestId(event.target.value)}
        />
        <DatePicker.RangePicker
          showTime
          value={range}
          aria-label={t('syslogs.fields.period')}
          placeholder={[t('syslogs.period_from'), t('syslogs.period_to')]}
          onChange={(values) =>
            setState({
              from: values?.[0]?.toISOString() ?? undefined,
              to: values?.[1]?.toISOString() ?? undefined,
              page: 1,
            })
          }
        />
        <Space>
          <Switch
            id="syslogs-live"
            checked={live}
            aria-label={t('syslogs.live')}
            onChange={(checked) => {
              setLive(checked);
              if (checked) setState({ page: 1 });
            }}
          />
          <label htmlFor="syslogs-live">{t('syslogs.live')}</label>
        </Space>
      </Space>
      {live && (
        <Alert
          type="info"
          showIcon
          style={{ marginBottom: 12 }}
          message={t('syslogs.live_on', { seconds: FOLLOW_INTERVAL_MS / 1000 })}
          data-testid="syslogs-live-status"
        />
      )}
      {followError != null && (
        <Alert type="error" showIcon role="alert" style={{ marginBottom: 12 }} message={t('syslogs.follow_failed')} description={<ErrorText error={followError} />} />
      )}
      {query.error ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <DataTable<SystemLog>
          testId="syslogs-table"
          columns={columns}
          rows={rows}
          rowKey={(line) => line.id}
          loading={query.isFetching && !live}
          empty={t('syslogs.empty')}
          page={live ? 1 : state.page}
          perPage={state.per_page}
          total={(query.data?.total ?? 0) + fresh.length}
          onPage={(page, perPage) => setState({ page, per_page: perPage })}
          totalText={(total) => t('syslogs.total', { count: total })}
        />
      )}
    </div>
  );
}

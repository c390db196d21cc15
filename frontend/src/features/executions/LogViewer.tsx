/**
 * The execution's log, read by cursor (`after=N`) and windowed (only the visible
 * lines are in the DOM, so a long log stays fast). While the execution runs it
 * follows new lines — but only while the reader is at the bottom: a reader who
 * scrolled up keeps their place and gets a "new lines" button instead
 * (Airflow #28143, Dagster #7821).
 */
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { Alert, Button, Empty, Flex, Typography } from 'antd';
import { ArrowDownOutlined, DownloadOutlined } from '@ant-design/icons';
import { useTranslation } from 'react-i18next';
import { ErrorText } from '../../components/ErrorText';
import dayjs from 'dayjs';
import { formatUtc } from '../../components/DateTime';
import { downloadLogs, fetchLogsAfter, LOG_PAGE, POLL_MS, type LogLine } from './api';

const LINE_HEIGHT = 22;
const VIEW_HEIGHT = 420;
const OVERSCAN = 20;
const LEVEL_COLORS: Record<string, string> = { ERROR: '#cf1322', WARNING: '#ad6800', CRITICAL: '#cf1322' };

/** Lines of the log, fetched page by page, then followed while `running`. */
function useLogLines(executionId: string, running: boolean) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);
  const cursor = useRef(0);

  const pull = useCallback(async () => {
    // Every page after the cursor, until a short page says we are at the end.
    for (;;) {
      const chunk = await fetchLogsAfter(executionId, cursor.current);
      if (chunk.lines.length) {
        cursor.current = chunk.next;
        setLines((previous) => previous.concat(chunk.lines));
      }
      if (chunk.lines.length < LOG_PAGE) return;
    }
  }, [executionId]);

  useEffect(() => {
    cursor.current = 0;
    setLines([]);
    setLoaded(false);
  }, [executionId]);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        await pull();
        setError(null);
      } catch (caught) {
        setError(caught);
      }
      setLoaded(true);
      // One more read after the end, for the lines written with the final state.
      if (!stopped && running) timer = setTimeout(() => void tick(), POLL_MS);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [pull, running]);

  return { lines, error, loaded };
}

export function LogViewer({ executionId, running }: { executionId: string; running: boolean }) {
  const { t } = useTranslation();
  const { lines, error, loaded } = useLogLines(executionId, running);
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [atBottom, setAtBottom] = useState(true);
  const [unseen, setUnseen] = useState(0);
  const seen = useRef(0);

  const scrollToEnd = () => {
    const element = box.current;
    if (element) element.scrollTop = element.scrollHeight;
    setUnseen(0);
  };

  // New lines: follow them if the reader is at the bottom; otherwise keep their place.
  useLayoutEffect(() => {
    const added = lines.length - seen.current;
    seen.current = lines.length;
    if (added <= 0) return;
    if (atBottom) scrollToEnd();
    else setUnseen((count) => count + added);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lines.length]);

  const onScroll = () => {
    const element = box.current;
    if (!element) return;
    setScrollTop(element.scrollTop);
    const bottom = element.scrollTop + element.clientHeight >= element.scrollHeight - LINE_HEIGHT;
    setAtBottom(bottom);
    if (bottom) setUnseen(0);
  };

  const first = Math.max(0, Math.floor(scrollTop / LINE_HEIGHT) - OVERSCAN);
  const last = Math.min(lines.length, Math.ceil((scrollTop + VIEW_HEIGHT) / LINE_HEIGHT) + OVERSCAN);
  const visible = lines.slice(first, last);

  return (
    <div>
      <Flex justify="space-between" align="center" style={{ marginBottom: 8 }}>
        <Typography.Text type="secondary" aria-live="polite">
          {running ? t('executions.logs.following') : t('executions.logs.count', { count: lines.length })}
        </Typography.Text>
        <Button icon={<DownloadOutlined />} onClick={() => void downloadLogs(executionId)} disabled={!lines.length}>
          {t('executions.logs.download')}
        </Button>
      </Flex>
      {error ? <Alert type="error" showIcon role="alert" message={<ErrorText error={error} />} style={{ marginBottom: 8 }} /> : null}
      {loaded && !lines.length ? (
        <Empty description={running ? t('executions.logs.waiting') : t('executions.logs.empty')} />
      ) : (
        <div style={{ position: 'relative' }}>
          <div
            ref={box}
            onScroll={onScroll}
            role="log"
            aria-label={t('executions.sections.logs')}
            tabIndex={0}
            data-testid="execution-logs"
            style={{
              height: VIEW_HEIGHT,
              overflow: 'auto',
              background: '#141414',
              color: '#e8e8e8',
              fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
              fontSize: 12,
              borderRadius: 6,
            }}
          >
            <div style={{ height: lines.length * LINE_HEIGHT, position: 'relative', minWidth: 'max-content' }}>
              {visible.map((line, index) => (
                <div
                  key={line.n}
                  style={{
                    position: 'absolute',
                    top: (first + index) * LINE_HEIGHT,
                    height: LINE_HEIGHT,
                    lineHeight: `${LINE_HEIGHT}px`,
                    whiteSpace: 'pre',
                    padding: '0 12px',
                  }}
                >
                  <span style={{ color: '#8c8c8c' }}>{String(line.n).padStart(5, ' ')} </span>
                  <time dateTime={line.ts} title={formatUtc(line.ts)} style={{ color: '#8c8c8c' }}>
                    {dayjs(line.ts).format('HH:mm:ss')}{' '}
                  </time>
                  <span style={{ color: LEVEL_COLORS[line.level] ?? '#95de64' }}>{line.level.padEnd(7, ' ')}</span>
                  <span>{line.message}</span>
                </div>
              ))}
            </div>
          </div>
          {unseen > 0 && (
            <Button
              type="primary"
              size="small"
              icon={<ArrowDownOutlined />}
              onClick={scrollToEnd}
              style={{ position: 'absolute', right: 16, bottom: 12 }}
            >
              {t('executions.logs.new_lines', { count: unseen })}
            </Button>
          )}
        </div>
      )}
    </div>
  );
}

/**
 * Small accessible charts of our own (no chart library: the first screen stays light).
 * Each chart is a picture with a text alternative *and* the figures as text: a bar list
 * shows every label and value next to its bar; the columns chart is backed by a table
 * on the page that uses it.
 */
import type { ReactNode } from 'react';
import { Typography } from 'antd';

export interface Bar {
  key: string;
  label: string;
  value: number;
  /** Where the figure can be checked (a filtered list), when there is one. */
  link?: ReactNode;
}

/** Horizontal bars: label, bar, value (the value is a link when `bar.link` is given). */
export function BarList({ bars, title, empty, testId }: { bars: Bar[]; title: string; empty: string; testId?: string }) {
  const max = Math.max(1, ...bars.map((bar) => bar.value));
  if (!bars.length) return <Typography.Text type="secondary">{empty}</Typography.Text>;
  return (
    <ul aria-label={title} data-testid={testId} style={{ listStyle: 'none', margin: 0, padding: 0 }}>
      {bars.map((bar) => (
        <li
          key={bar.key}
          data-key={bar.key}
          style={{ display: 'grid', gridTemplateColumns: 'minmax(90px, 30%) 1fr 56px', alignItems: 'center', gap: 8, marginBottom: 6 }}
        >
          <span style={{ overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }} title={bar.label}>
            {bar.label}
          </span>
          <span aria-hidden="true" style={{ background: '#f0f0f0', borderRadius: 3, height: 14, display: 'block' }}>
            <span
              style={{
                display: 'block',
                height: '100%',
                width: `${(bar.value / max) * 100}%`,
                background: '#1668dc',
                borderRadius: 3,
              }}
            />
          </span>
          <span data-testid="bar-value" style={{ textAlign: 'right', fontVariantNumeric: 'tabular-nums' }}>
            {bar.link ?? bar.value}
          </span>
        </li>
      ))}
    </ul>
  );
}

export interface Column {
  key: string;
  label: string;
  parts: { key: string; label: string; value: number; color: string }[];
}

/** Stacked columns over time (SVG); `label` says what the picture shows. */
export function StackedColumns({ columns, label, height = 180 }: { columns: Column[]; label: string; height?: number }) {
  const totals = columns.map((column) => column.parts.reduce((sum, part) => sum + part.value, 0));
  const max = Math.max(1, ...totals);
  const width = Math.max(columns.length * 14, 280);
  const step = width / Math.max(columns.length, 1);
  const bar = Math.max(2, step * 0.7);
  return (
    <svg role="img" aria-label={label} viewBox={`0 0 ${width} ${height + 4}`} width="100%" height={height + 4} preserveAspectRatio="none">
      <line x1={0} x2={width} y1={height} y2={height} stroke="#8c8c8c" strokeWidth={1} />
      {columns.map((column, index) => {
        let y = height;
        return (
          <g key={column.key}>
            <title>{`${column.label} : ${column.parts.map((part) => `${part.label} ${part.value}`).join(', ')}`}</title>
            {column.parts
              .filter((part) => part.value > 0)
              .map((part) => {
                const h = (part.value / max) * (height - 8);
                y -= h;
                return <rect key={part.key} x={index * step + (step - bar) / 2} y={y} width={bar} height={h} fill={part.color} />;
              })}
          </g>
        );
      })}
    </svg>
  );
}

/** Colours of the execution statuses (legend and columns). */
export const STATUS_COLORS: Record<string, string> = {
  succeeded: '#389e0d',
  failed: '#cf1322',
  timed_out: '#d46b08',
  cancelled: '#8c8c8c',
  running: '#1668dc',
  queued: '#722ed1',
};

export function Legend({ items }: { items: { key: string; label: string; color: string }[] }) {
  return (
    <ul style={{ listStyle: 'none', display: 'flex', flexWrap: 'wrap', gap: 12, padding: 0, margin: '8px 0' }}>
      {items.map((item) => (
        <li key={item.key} style={{ display: 'flex', alignItems: 'center', gap: 4 }}>
          <span aria-hidden="true" style={{ width: 12, height: 12, background: item.color, display: 'inline-block', borderRadius: 2 }} />
          {item.label}
        </li>
      ))}
    </ul>
  );
}

/** The URL state of the Rapports section and the API query of each report. */
import type { ReportName, ReportParams } from './api';

export const DEFAULTS = {
  from: undefined as string | undefined,
  to: undefined as string | undefined,
  department: undefined as string | undefined,
  region: undefined as string | undefined,
  interval: 'day',
  name: undefined as string | undefined,
  status: undefined as string | undefined,
  page: 1,
  per_page: 20,
};
export type ReportState = typeof DEFAULTS;
export type SetReportState = (patch: Partial<ReportState>) => void;

/** The API query of a report from the URL state (each report takes what it knows). */
export function reportParams(name: ReportName, state: ReportState): ReportParams {
  const common = { from: state.from, to: state.to, department: state.department, region: state.region };
  if (name === 'execution-trends') return { ...common, interval: state.interval };
  if (name === 'model-performance') return { ...common, name: state.name, page: state.page, per_page: state.per_page };
  if (name === 'deployment-status') return { ...common, status: state.status, page: state.page, per_page: state.per_page };
  return common;
}

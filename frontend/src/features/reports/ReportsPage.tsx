/** Guide 7.1: the Rapports section. One tab (and one URL) per report; the period,
 * département and région filters live in the URL and are shared by the four reports;
 * "Exporter en CSV" downloads the report shown, filtered the same way. */
import { useState } from 'react';
import { App, Button, DatePicker, Flex, Select, Space, Tabs, Typography } from 'antd';
import { DownloadOutlined } from '@ant-design/icons';
import dayjs from 'dayjs';
import { useLocation, useNavigate, useParams } from 'react-router-dom';
import { useTranslation } from 'react-i18next';
import { NotFoundMessage } from '../../components/StatusMessage';
import { useUrlState } from '../../components/useUrlState';
import { errorMessage } from '../../api/errors';
import { exportReport, REPORTS, useFacets, type ReportName } from './api';
import { DEFAULTS, reportParams } from './state';
import { dayStart } from './format';
import { ModelPerformanceReport } from './ModelPerformanceReport';
import { ExecutionTrendsReport } from './ExecutionTrendsReport';
import { DepartmentUsageReport } from './DepartmentUsageReport';
import { DeploymentStatusReport } from './DeploymentStatusReport';

function isReport(value: string | undefined): value is ReportName {
  return REPORTS.includes(value as ReportName);
}

export default function ReportsPage() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const { report } = useParams();
  const navigate = useNavigate();
  const location = useLocation();
  const [state, setState] = useUrlState(DEFAULTS);
  const facets = useFacets();
  const [exporting, setExporting] = useState(false);
  if (!isReport(report)) return <NotFoundMessage />;

  const options = (values?: string[] | null) => (values ?? []).map((value) => ({ value, label: value }));
  const picked: [dayjs.Dayjs, dayjs.Dayjs] | null =
    state.from && state.to ? [dayjs(state.from.slice(0, 10)), dayjs(state.to.slice(0, 10)).subtract(1, 'day')] : null;

  const onExport = async () => {
    setExporting(true);
    try {
      // The whole report, not the page on screen: without a page, the API exports every page.
      const params = reportParams(report, state);
      await exportReport(report, { ...params, page: undefined, per_page: undefined });
    } catch (error) {
      void message.error(errorMessage(error, t));
    } finally {
      setExporting(false);
    }
  };

  const view = {
    'model-performance': <ModelPerformanceReport state={state} setState={setState} />,
    'execution-trends': <ExecutionTrendsReport state={state} setState={setState} />,
    'department-usage': <DepartmentUsageReport state={state} setState={setState} />,
    'deployment-status': <DeploymentStatusReport state={state} setState={setState} />,
  }[report];

  return (
    <div>
      <Flex justify="space-between" align="center" wrap style={{ marginBottom: 16 }}>
        <Typography.Title level={2} style={{ margin: 0 }}>
          {t('reports.title')}
        </Typography.Title>
        <Button icon={<DownloadOutlined />} onClick={() => void onExport()} loading={exporting}>
          {t('reports.export')}
        </Button>
      </Flex>
      <Tabs
        activeKey={report}
        onChange={(key) => {
          // The period and the filters follow; what belongs to one report does not.
          const params = new URLSearchParams(location.search);
          for (const own of ['name', 'status', 'page', 'per_page', 'interval']) params.delete(own);
          const search = params.toString();
          navigate(`/reports/${key}${search ? `?${search}` : ''}`);
        }}
        items={REPORTS.map((key) => ({ key, label: t(`reports.names.${key}`) }))}
      />
      <Space wrap style={{ marginBottom: 16 }} role="search">
        <DatePicker.RangePicker
          allowClear
          aria-label={t('reports.period')}
          placeholder={[t('reports.period_start'), t('reports.period_end')]}
          value={picked}
          format="DD/MM/YYYY"
          onChange={(range) => {
            if (!range || !range[0] || !range[1]) return setState({ from: undefined, to: undefined, page: 1 });
            setState({
              from: dayStart(range[0].format('YYYY-MM-DD')),
              to: dayStart(range[1].add(1, 'day').format('YYYY-MM-DD')),
              page: 1,
            });
          }}
        />
        <Select
          allowClear
          showSearch
          optionFilterProp="label"
          style={{ width: 200 }}
          placeholder={t('reports.department')}
          aria-label={t('reports.department')}
          value={state.department}
          options={options(facets.data?.department)}
          loading={facets.isPending}
          onChange={(value) => setState({ department: value, page: 1 })}
        />
        <Select
          allowClear
          showSearch
          optionFilterProp="label"
          style={{ width: 200 }}
          placeholder={t('reports.region')}
          aria-label={t('reports.region')}
          value={state.region}
          options={options(facets.data?.region)}
          loading={facets.isPending}
          onChange={(value) => setState({ region: value, page: 1 })}
        />
        {report === 'execution-trends' && (
          <Select
            style={{ width: 140 }}
            aria-label={t('reports.interval')}
            value={state.interval}
            options={['hour', 'day', 'week'].map((value) => ({ value, label: t(`reports.intervals.${value}`) }))}
            onChange={(value) => setState({ interval: value })}
          />
        )}
      </Space>
      {view}
    </div>
  );
}

/** Ant Design's Result (its illustrations are heavy: loaded only when shown). */
import { Result } from 'antd';

export interface StatusPageProps {
  status: '403' | '404' | '500';
  title: string;
  subTitle: string;
}

export default function StatusPage({ status, title, subTitle }: StatusPageProps) {
  return <Result status={status} title={title} subTitle={subTitle} />;
}
